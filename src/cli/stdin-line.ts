/** Reading one line from standard input, for secrets that must not sit in argv or shell history. */

/** What `readFirstLine` read. */
export interface FirstLine {
  /** The first non-blank line, without its line break (or up to the end of the stream, or `maxChars` characters). */
  text: string;
  /** False when `maxChars` characters came without a line break or the end of the stream. */
  complete: boolean;
}

/**
 * Reads `stream` up to the first line break after any leading blank lines, or its end,
 * keeping at most `maxChars` characters, then stops reading (so a terminal or a longer
 * pipe does not keep the process alive).
 */
export function readFirstLine(stream: NodeJS.ReadableStream, maxChars: number): Promise<FirstLine> {
  return new Promise((resolve, reject) => {
    let text = '';
    const finish = (result: FirstLine | Error) => {
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('error', onError);
      stream.pause();
      // A paused pipe or terminal still holds the event loop open until its writer closes it.
      (stream as { unref?: () => void }).unref?.();
      if (result instanceof Error) reject(result);
      else resolve(result);
    };
    const onData = (chunk: string) => {
      // Blank lines before the text (a paste often starts with one) are skipped.
      text = (text + chunk).replace(/^\s+/, '');
      const nl = text.search(/\r?\n/);
      if (nl >= 0 && nl <= maxChars) finish({ text: text.slice(0, nl), complete: true });
      else if (text.length > maxChars) finish({ text: text.slice(0, maxChars), complete: false });
    };
    const onEnd = () => finish({ text, complete: true });
    const onError = (err: Error) => finish(err);
    // Decoded by the stream, so a character split across chunks stays whole.
    stream.setEncoding('utf8');
    stream.on('data', onData);
    stream.once('end', onEnd);
    stream.once('error', onError);
    stream.resume();
  });
}
