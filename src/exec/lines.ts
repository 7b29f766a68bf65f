/**
 * Splits a byte stream into text lines for live display. UTF-8 sequences cut across chunks are
 * kept whole, `\r\n` ends a line like `\n`, and a line that never ends is cut at a cap so a tool
 * printing megabytes without a newline cannot grow memory without bound.
 */
import { StringDecoder } from 'node:string_decoder';

export const MAX_LINE_CHARS = 64 * 1024;
/**
 * For a tool's lines that carry data (a result sample, a traceback, a progress record naming its
 * requests): never cut, within a bound. A cut one would not parse, and what it carried be lost.
 */
export const MAX_DATA_LINE_CHARS = 4 * 1024 * 1024;

export class LineSplitter {
  private readonly decoder = new StringDecoder('utf8');
  private pending = '';

  /**
   * `onPartial` hears the line being written so far whenever a chunk ends in the middle of one:
   * a tool that prints progress marks without a newline (FunkLoad's test marks) shows them live.
   */
  constructor(
    private readonly onLine: (line: string) => void,
    private readonly maxChars = MAX_LINE_CHARS,
    private readonly onPartial?: (text: string) => void,
  ) {}

  push(chunk: Buffer | string): void {
    let text = this.pending + (typeof chunk === 'string' ? chunk : this.decoder.write(chunk));
    let nl = text.indexOf('\n');
    while (nl !== -1) {
      this.emit(text.slice(0, nl));
      text = text.slice(nl + 1);
      nl = text.indexOf('\n');
    }
    while (text.length > this.maxChars) {
      this.onLine(`${text.slice(0, this.maxChars)} …[line cut at ${this.maxChars} chars]`);
      text = text.slice(this.maxChars);
    }
    this.pending = text;
    if (text && this.onPartial) this.onPartial(text);
  }

  /** Flush what is left when the stream ends (a last line without a newline). */
  end(): void {
    const rest = this.pending + this.decoder.end();
    this.pending = '';
    if (rest.length) this.emit(rest);
  }

  private emit(line: string): void {
    const l = line.endsWith('\r') ? line.slice(0, -1) : line;
    this.onLine(l.length > this.maxChars ? `${l.slice(0, this.maxChars)} …[line cut at ${this.maxChars} chars]` : l);
  }
}
