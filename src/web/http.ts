// The console's calls to the admin API: same-origin fetch with the session cookie and the CSRF token on every change.

import { ADMIN_BASE, type AdminSessionInfo } from '../api/admin-contract.js';

/** An API error with its stable code. */
export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
  }
}

let csrf = '';

/** Remembers the session's CSRF token (from GET /v1/admin/session). */
export function setCsrf(token: string): void {
  csrf = token;
}

/** Calls `ADMIN_BASE + path`; JSON in and out; throws ApiError with the server's one-line message. */
export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = {};
  if (method !== 'GET') headers['x-csrf-token'] = csrf;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(ADMIN_BASE + path, { method, headers, credentials: 'same-origin', ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  const text = await res.text();
  let parsed: unknown = null;
  try { parsed = text ? JSON.parse(text) : null; } catch { parsed = null; }
  if (!res.ok) {
    const err = (parsed as { error?: { code: string; message: string } } | null)?.error;
    throw new ApiError(res.status, err?.code ?? 'ERROR', err?.message ?? `The server answered ${res.status}.`);
  }
  return parsed as T;
}

/** Who is signed in, or null. */
export async function currentSession(): Promise<AdminSessionInfo | null> {
  try {
    const s = await api<AdminSessionInfo>('GET', '/session');
    setCsrf(s.csrfToken);
    return s;
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return null;
    throw err;
  }
}

/** Uploads a file as a content version, reporting progress (0..1); XMLHttpRequest, because fetch has no upload progress. */
export function upload(path: string, file: Blob, onProgress: (fraction: number) => void): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', ADMIN_BASE + path);
    xhr.setRequestHeader('content-type', 'application/octet-stream');
    xhr.setRequestHeader('x-csrf-token', csrf);
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) onProgress(e.loaded / e.total); };
    xhr.onload = () => {
      let parsed: unknown = null;
      try { parsed = JSON.parse(xhr.responseText); } catch { parsed = null; }
      if (xhr.status >= 200 && xhr.status < 300) { onProgress(1); resolve(parsed); return; }
      const err = (parsed as { error?: { code: string; message: string } } | null)?.error;
      reject(new ApiError(xhr.status, err?.code ?? 'ERROR', err?.message ?? `The server answered ${xhr.status}.`));
    };
    xhr.onerror = () => reject(new ApiError(0, 'NETWORK', 'The upload failed (network).'));
    xhr.send(file);
  });
}
