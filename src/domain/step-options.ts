// How a custom step's options apply to it: effective settings (defaults overlaid by the step's own), required and regex checks, the script.

import { contentReferenceOf, isOptionType, OPTION_TYPES, type StepDefinitionVersion, type StepOption } from './step-definition.js';

/** A content option of the step with the content item version it names. */
export interface ContentOption {
  /** The option's name (also the step's content slot and the `_CONTENT-<name>` variable). */
  name: string;
  /** `"<guid>:<version>"`. */
  reference: string;
  hidden: boolean;
}

/** What a custom step runs with. */
export interface ResolvedOptions {
  /**
   * Every option's effective value under the option's own name, in the definition's order (the
   * default overlaid by the step's setting of that name, any case; for a `Content` option the
   * step's content slot, else the default), then the step's settings that name no option.
   */
  settings: Record<string, string>;
  /** The `Content` options that name a content item version, in the definition's order. */
  content: ContentOption[];
  /** The `Script` option (the first, when there are several) and its effective value; null when there is none. */
  script: { option: string; value: string } | null;
}

/** The value of `name` in `record`, matched exactly first, then ignoring case; undefined when absent. */
function lookup(record: Readonly<Record<string, string>>, name: string): string | undefined {
  if (Object.hasOwn(record, name)) return record[name];
  const key = Object.keys(record).find((k) => k.toLowerCase() === name.toLowerCase());
  return key === undefined ? undefined : record[key];
}

function define(target: Record<string, string>, key: string, value: string): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

/**
 * Resolves the options of `version` for a step: `settings` are the step's own settings (already
 * `%NAME%`-expanded), `contentItems` its content slots; `expand` is applied to default values, as
 * the runner applies it to the step's own settings.
 */
export function resolveOptions(
  version: Pick<StepDefinitionVersion, 'options'>,
  settings: Readonly<Record<string, string>>,
  contentItems: Readonly<Record<string, string>>,
  expand: (text: string) => string = (text) => text,
): ResolvedOptions {
  const out: Record<string, string> = {};
  const content: ContentOption[] = [];
  let script: ResolvedOptions['script'] = null;
  const named = new Set<string>();
  for (const option of version.options) {
    named.add(option.name.toLowerCase());
    let value: string;
    if (isOptionType(option, OPTION_TYPES.Content)) {
      const reference = contentReferenceOf(lookup(contentItems, option.name)) ?? contentReferenceOf(option.defaultValue);
      value = reference ?? '';
      if (reference !== null) content.push({ name: option.name, reference, hidden: option.hidden });
    } else {
      value = lookup(settings, option.name) ?? expand(option.defaultValue ?? '');
      if (script === null && isOptionType(option, OPTION_TYPES.Script)) script = { option: option.name, value };
    }
    define(out, option.name, value);
  }
  for (const [name, value] of Object.entries(settings)) {
    if (!named.has(name.toLowerCase())) define(out, name, value);
  }
  return { settings: out, content, script };
}

/** How an option is named in messages: `"Name" (Display name)`, or `"Name"`. */
export function describeOption(option: Pick<StepOption, 'name' | 'displayName'>): string {
  const display = option.displayName?.trim();
  return display && display !== option.name ? `"${option.name}" (${display})` : `"${option.name}"`;
}

/**
 * The first problem with the resolved values, as one line, or null when there is none: a required
 * option without a value, a value that does not match one of its option's `validations`
 * (checked whenever the value is not empty; DeployR's exports have them on Text options), or a
 * rule this client cannot compile (DeployR's rules are .NET regular expressions).
 */
export function checkOptions(version: Pick<StepDefinitionVersion, 'options'>, resolved: Pick<ResolvedOptions, 'settings'>): string | null {
  for (const option of version.options) {
    const value = lookup(resolved.settings, option.name) ?? '';
    if (value.trim() === '') {
      if (option.required) {
        return isOptionType(option, OPTION_TYPES.Content)
          ? `required option ${describeOption(option)} has no content item: set the step's content slot "${option.name}"`
          : `required option ${describeOption(option)} has no value`;
      }
      continue;
    }
    for (const rule of option.validations ?? []) {
      let pattern: RegExp;
      try {
        pattern = new RegExp(rule.regexRule);
      } catch (err) {
        return `option ${describeOption(option)}: its validation rule ${rule.regexRule} cannot be checked by this client (${(err as Error).message})`;
      }
      if (!pattern.test(value)) {
        const why = rule.errorMessage?.trim() || `the value does not match ${rule.regexRule}`;
        return `option ${describeOption(option)}: ${why} (validation rule ${rule.regexRule})`;
      }
    }
  }
  return null;
}

/**
 * Whether a `Script` option's value names a file or is the script itself: one line ending in
 * `.ps1` (any case) is a file name in the step's content item; anything else is inline PowerShell.
 */
export function scriptKind(value: string): 'file' | 'inline' {
  const text = value.trim();
  return !/[\r\n]/.test(text) && /\.ps1$/i.test(text) ? 'file' : 'inline';
}

/**
 * The content item that holds the script file: the first hidden `Content` option with a reference
 * (DeployR's step editor hides the script's own content item), else the first with one; null
 * when no `Content` option names a content item.
 */
export function scriptContent(resolved: Pick<ResolvedOptions, 'content'>): ContentOption | null {
  return resolved.content.find((c) => c.hidden) ?? resolved.content[0] ?? null;
}
