/**
 * The link checks of the Markdown pages (README.md, docs/, gitops/, e2e/): relative links that
 * point at nothing, `#anchors` that name no heading, and pages no link leads to. Anchors follow
 * GitHub's rules, so a link that passes here works on GitHub too.
 */
import * as fs from "node:fs";
import * as path from "node:path";

/** A link found in a page: its target as written and the line it is on. */
export interface Link {
  target: string;
  line: number;
}

/** Lines of a page outside fenced code blocks (a `#` there is a comment, a `[x](y)` is code). */
function proseLines(text: string): { text: string; line: number }[] {
  const out: { text: string; line: number }[] = [];
  let fence: string | undefined;
  text.split("\n").forEach((raw, i) => {
    const marker = /^\s{0,3}(`{3,}|~{3,})/.exec(raw)?.[1];
    if (marker && (fence === undefined || (marker[0] === fence[0] && marker.length >= fence.length))) {
      fence = fence === undefined ? marker : undefined;
      return;
    }
    if (fence === undefined) out.push({ text: raw, line: i + 1 });
  });
  return out;
}

/**
 * A page's prose: fenced code blocks blanked and inline code spans (which may wrap, but never
 * across a blank line) removed, newlines kept, so that offsets still give line numbers.
 */
function prose(text: string): string {
  const lines = text.split("\n");
  const kept = new Set(proseLines(text).map((l) => l.line));
  return lines
    .map((l, i) => (kept.has(i + 1) ? l : ""))
    .join("\n")
    .replace(/(`+)(?:(?!\n[ \t]*\n)[\s\S])*?\1/g, (code) => code.replace(/[^\n]/g, ""));
}

/**
 * GitHub's anchor for a heading: the rendered text (code marks, emphasis and link syntax gone)
 * lowercased, every character other than a letter, digit, space, '-' or '_' dropped, spaces
 * made '-'. `seen` counts earlier headings, so a repeat gets -1, -2, ...
 */
export function slug(heading: string, seen: Map<string, number> = new Map()): string {
  const rendered = heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, "$1")
    .replace(/`/g, "")
    .replace(/(\*\*|__|\*)/g, "")
    .replace(/<[^>]+>/g, "")
    .trim();
  const base = rendered
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N} _-]/gu, "")
    .replace(/ /g, "-");
  const count = seen.get(base) ?? 0;
  seen.set(base, count + 1);
  return count === 0 ? base : `${base}-${count}`;
}

/** Every anchor a page's headings give it, in GitHub's form. */
export function anchorsOf(text: string): Set<string> {
  const seen = new Map<string, number>();
  const anchors = new Set<string>();
  for (const { text: line } of proseLines(text)) {
    const heading = /^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$/.exec(line)?.[1];
    if (heading !== undefined) anchors.add(slug(heading, seen));
  }
  return anchors;
}

/** Every link target of a page: inline links and images (their text may wrap), and reference definitions. */
export function linksOf(text: string): Link[] {
  const body = prose(text);
  const lineAt = (offset: number) => body.slice(0, offset).split("\n").length;
  const links: Link[] = [];
  for (const m of body.matchAll(/!?\[((?:(?!\n[ \t]*\n)[^\]])*)\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
    links.push({ target: m[2]!, line: lineAt(m.index) });
  }
  for (const m of body.matchAll(/^[ ]{0,3}\[[^\]\n]+\]:[ \t]*<?(\S+?)>?(?:[ \t]+"[^"\n]*")?[ \t]*$/gm)) {
    links.push({ target: m[1]!, line: lineAt(m.index) });
  }
  return links.sort((a, b) => a.line - b.line);
}

/** A link to another site or protocol, which the checks leave alone. */
function isExternal(target: string): boolean {
  return /^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith("//");
}

/** Where a relative link of `page` leads: the file or folder (absolute) and its anchor, if any. */
export function resolveLink(page: string, target: string): { file: string; anchor: string | undefined } {
  const hash = target.indexOf("#");
  const file = hash === -1 ? target : target.slice(0, hash);
  const anchor = hash === -1 ? undefined : decodeURIComponent(target.slice(hash + 1));
  return { file: file === "" ? page : path.resolve(path.dirname(page), decodeURI(file)), anchor };
}

/**
 * Problems with the relative links of `pages` (absolute paths): a target that does not exist, or
 * an anchor that its Markdown target lacks. One line each, `<page>:<line>: <what>`, paths
 * relative to `root`.
 */
export function brokenLinks(root: string, pages: string[]): string[] {
  const problems: string[] = [];
  const anchorCache = new Map<string, Set<string>>();
  const anchors = (file: string) => {
    let set = anchorCache.get(file);
    if (!set) anchorCache.set(file, (set = anchorsOf(fs.readFileSync(file, "utf8"))));
    return set;
  };
  for (const page of pages) {
    const where = path.relative(root, page);
    for (const { target, line } of linksOf(fs.readFileSync(page, "utf8"))) {
      if (isExternal(target)) continue;
      const { file, anchor } = resolveLink(page, target);
      if (!fs.existsSync(file)) {
        problems.push(`${where}:${line}: ${target} points at nothing (${path.relative(root, file)} does not exist)`);
        continue;
      }
      if (anchor === undefined || anchor === "" || !file.endsWith(".md") || fs.statSync(file).isDirectory()) continue;
      if (!anchors(file).has(anchor)) {
        problems.push(`${where}:${line}: ${target}: ${path.relative(root, file)} has no heading #${anchor}`);
      }
    }
  }
  return problems;
}

/**
 * The pages of `pages` that no chain of relative links from `start` reaches. A link to a folder
 * reaches its README.md.
 */
export function unreachable(start: string, pages: string[]): string[] {
  const seen = new Set<string>();
  const queue = [start];
  while (queue.length > 0) {
    const page = queue.shift()!;
    if (seen.has(page) || !fs.existsSync(page)) continue;
    seen.add(page);
    for (const { target } of linksOf(fs.readFileSync(page, "utf8"))) {
      if (isExternal(target)) continue;
      let { file } = resolveLink(page, target);
      if (fs.existsSync(file) && fs.statSync(file).isDirectory()) file = path.join(file, "README.md");
      if (file.endsWith(".md")) queue.push(file);
    }
  }
  return pages.filter((p) => !seen.has(p));
}

/** Every `.md` file under `dir` (absolute paths, sorted); none when it does not exist. */
export function markdownUnder(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir, { recursive: true, encoding: "utf8" })
    .filter((f) => f.endsWith(".md"))
    .map((f) => path.join(dir, f))
    .sort();
}
