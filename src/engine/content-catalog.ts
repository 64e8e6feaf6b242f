// Use cases for content item metadata: create, list, read.

import { randomUUID } from 'node:crypto';
import type { ContentItem, ContentPurpose, ContentType } from '../domain/content-item.js';
import { CONTENT_PURPOSES, CONTENT_TYPES } from '../domain/content-item.js';
import { DeployrError } from '../domain/errors.js';
import type { ContentItemStore } from './ports.js';

/** One content item in a listing. */
export interface ContentItemOverview {
  id: string;
  name: string;
  description: string | null;
  contentItemPurpose: string;
  type: string;
  versions: { versionNo: number; status: string; files: number; size: number }[];
}

/** The catalog of content items. */
export class ContentCatalog {
  constructor(private readonly store: ContentItemStore, private readonly now: () => Date = () => new Date()) {}

  /** Creates a content item with no versions yet. */
  async create(input: { name: string; description?: string | null; purpose: string; type: string; tags?: string[] }, actor: { subject: string; source: string | null }): Promise<ContentItem> {
    if (!input.name.trim()) throw new DeployrError('INVALID_INPUT', 'A content item needs a name.');
    if (!CONTENT_PURPOSES.includes(input.purpose as ContentPurpose)) throw new DeployrError('INVALID_INPUT', `Unknown purpose; use one of ${CONTENT_PURPOSES.join(', ')}.`);
    if (!CONTENT_TYPES.includes(input.type as ContentType)) throw new DeployrError('INVALID_INPUT', `Unknown type; use one of ${CONTENT_TYPES.join(', ')}.`);
    const at = Math.floor(this.now().getTime() / 1000);
    const item: ContentItem = {
      id: randomUUID(), name: input.name.trim(), description: input.description ?? null, contentItemPurpose: input.purpose as ContentPurpose,
      type: input.type as ContentType, tags: input.tags ?? [], createdDate: at, lastModifiedDate: at, versions: [],
    };
    await this.store.putContentItem(item, { kind: 'content', method: 'create', result: 'created', reason: 'ok', subject: actor.subject, source: actor.source, device: null, detail: { id: item.id, name: item.name } });
    return item;
  }

  /** Every content item, as overviews. */
  async list(): Promise<ContentItemOverview[]> {
    return (await this.store.listContentItems()).map(contentOverview);
  }

  /** One content item; NOT_FOUND when missing. */
  async get(id: string): Promise<ContentItem> {
    const item = await this.store.getContentItem(id.toLowerCase());
    if (!item) throw new DeployrError('NOT_FOUND', `No content item with id ${id}.`);
    return item;
  }
}

/** The overview of a content item. */
export function contentOverview(c: ContentItem): ContentItemOverview {
  return {
    id: c.id, name: c.name, description: c.description, contentItemPurpose: c.contentItemPurpose, type: c.type,
    versions: c.versions.map((v) => ({ versionNo: v.versionNo, status: v.status, files: v.files.length, size: v.files.reduce((n, f) => n + f.size, 0) })),
  };
}
