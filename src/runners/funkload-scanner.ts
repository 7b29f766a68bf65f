/**
 * Reading FunkLoad's bench result format: a tolerant streaming scanner rather than a strict XML
 * parser, because real FunkLoad files are not always well-formed (missing `</funkload>` after a
 * kill, raw CDATA bodies with stray bytes, a `"` after xmlrpc `/>`, attributes in single quotes).
 */

export interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  /** For a non-empty <response>: its <header>s and <body> CDATA. */
  headers?: Record<string, string>;
  body?: string;
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

export function decodeEntities(s: string): string {
  if (!s.includes('&')) return s;
  return s.replace(/&(#x[0-9a-fA-F]+|#\d+|[a-zA-Z]+);/g, (m, e: string) => {
    if (e[0] === '#') {
      const code = e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
      return Number.isFinite(code) && code >= 0 && code <= 0x10ffff ? String.fromCodePoint(code) : m;
    }
    return ENTITIES[e] ?? m; // unknown entity: keep the text (lenient)
  });
}

/** Parse the attributes of a start tag's inside (`name a="1" b='2'`). */
export function parseAttributes(inside: string): Record<string, string> {
  const attrs: Record<string, string> = {};
  const re = /([^\s=/"']+)\s*=\s*(?:"([^"]*)"|'([^']*)')/g;
  for (let m = re.exec(inside), guard = 0; m && guard < 10_000; m = re.exec(inside), guard++) {
    attrs[m[1]] = decodeEntities(m[2] ?? m[3] ?? '');
  }
  return attrs;
}

/** Where the tag that starts at `lt` ends (index of its `>`), honouring quotes; -1 if not yet. */
function tagEnd(buf: string, lt: number): number {
  let quote = '';
  for (let i = lt + 1; i < buf.length; i++) {
    const ch = buf[i];
    if (quote) {
      if (ch === quote) quote = '';
    } else if (ch === '"' || ch === "'") quote = ch;
    else if (ch === '>') return i;
  }
  return -1;
}

const MAX_TAG = 1 << 20; // a start tag longer than this is garbage: skip it
const MAX_BODY = 4 << 20; // CDATA kept per response body

/**
 * A push scanner: feed text chunks, get complete elements back. Only the element kinds FunkLoad
 * files use are built; anything else (text, comments, processing instructions, stray quotes) is
 * skipped. Memory: the unconsumed tail of the input and one open <response>.
 */
export class FunkloadScanner {
  private buf = '';
  private open: XmlElement | undefined;
  private inBody = false;
  private bodyParts: string[] = [];
  private bodySize = 0;
  sawEnd = false;
  sawRoot = false;

  constructor(private readonly emit: (e: XmlElement) => void) {}

  feed(chunk: string): void {
    this.buf += chunk;
    let pos = 0;
    for (let guard = 0; guard < 10_000_000; guard++) {
      const lt = this.buf.indexOf('<', pos);
      if (lt < 0) {
        pos = this.buf.length;
        break;
      }
      if (this.buf.startsWith('<![CDATA[', lt)) {
        const end = this.buf.indexOf(']]>', lt + 9);
        if (end < 0) {
          if (this.buf.length - lt > MAX_BODY + 16) {
            // Runaway CDATA: keep what fits, drop the rest up to here.
            this.addBody(this.buf.slice(lt + 9));
            this.buf = '<![CDATA[';
            return;
          }
          pos = lt;
          break;
        }
        this.addBody(this.buf.slice(lt + 9, end));
        pos = end + 3;
        continue;
      }
      if (this.buf.startsWith('<!--', lt)) {
        const end = this.buf.indexOf('-->', lt + 4);
        if (end < 0) {
          pos = lt;
          break;
        }
        pos = end + 3;
        continue;
      }
      const gt = tagEnd(this.buf, lt);
      if (gt < 0) {
        if (this.buf.length - lt > MAX_TAG) {
          pos = lt + 1; // not a tag we can ever close: skip the '<'
          continue;
        }
        pos = lt;
        break;
      }
      this.tag(this.buf.slice(lt + 1, gt));
      pos = gt + 1;
    }
    this.buf = this.buf.slice(pos);
  }

  /** End of input: a response left open (killed bench) is still delivered. */
  end(): void {
    if (this.open) this.closeResponse();
    this.buf = '';
  }

  private addBody(text: string): void {
    if (!this.open || !this.inBody) return;
    if (this.bodySize < MAX_BODY) {
      const part = text.slice(0, MAX_BODY - this.bodySize);
      this.bodyParts.push(part);
      this.bodySize += part.length;
    }
  }

  private tag(inside: string): void {
    if (inside.startsWith('?') || inside.startsWith('!')) return;
    if (inside.startsWith('/')) {
      const name = inside.slice(1).trim();
      if (name === 'funkload') this.sawEnd = true;
      else if (name === 'body') this.inBody = false;
      else if (name === 'response' && this.open) this.closeResponse();
      return;
    }
    const selfClosing = inside.endsWith('/');
    const m = /^([A-Za-z_][\w.:-]*)/.exec(inside);
    if (!m) return;
    const name = m[1];
    const attrs = parseAttributes(inside.slice(name.length, selfClosing ? -1 : undefined));
    if (name === 'funkload') this.sawRoot = true;
    if (name === 'response' && !selfClosing) {
      if (this.open) this.closeResponse();
      this.open = { name, attrs, headers: {} };
      return;
    }
    if (name === 'header' && this.open) {
      if (attrs.name !== undefined) this.open.headers![attrs.name] = attrs.value ?? '';
      return;
    }
    if (name === 'body' && this.open) {
      this.inBody = !selfClosing;
      return;
    }
    if (name === 'headers') return;
    this.emit({ name, attrs });
  }

  private closeResponse(): void {
    const e = this.open!;
    // The writer wraps the body as "\n...\n" inside CDATA.
    let body = this.bodyParts.join('');
    if (body.startsWith('\n')) body = body.slice(1);
    if (body.endsWith('\n')) body = body.slice(0, -1);
    e.body = body;
    this.open = undefined;
    this.inBody = false;
    this.bodyParts = [];
    this.bodySize = 0;
    this.emit(e);
  }
}
