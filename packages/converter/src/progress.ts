// Progress for long CLI steps: a bar redrawn in place on a terminal, nothing but step lines otherwise.
import type { ConvertProgress } from './convert';

const MB = 1e6;

export interface ProgressReporter {
  /** A line for a step (printed above the bar on a terminal). */
  step(message: string): void;
  update(p: ConvertProgress): void;
  /** Clears the bar. */
  done(): void;
}

export function createProgress(stream: NodeJS.WriteStream = process.stderr, lines: NodeJS.WriteStream = process.stdout): ProgressReporter {
  const tty = stream.isTTY === true;
  const started = performance.now();
  let last = 0;
  let shown = '';
  const clear = () => {
    if (shown) stream.write('\r\x1b[2K');
    shown = '';
  };
  const draw = (p: ConvertProgress) => {
    const frac = p.bytesTotal > 0 ? p.bytesDone / p.bytesTotal : 1;
    const width = 30;
    const filled = Math.round(frac * width);
    const secs = (performance.now() - started) / 1000;
    const rate = secs > 0 ? p.bytesDone / MB / secs : 0;
    shown = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(frac * 100).toFixed(0).padStart(3)}%  ` +
      `${(p.bytesDone / MB).toFixed(1)}/${(p.bytesTotal / MB).toFixed(1)} MB  ${p.tensorsDone}/${p.tensorsTotal} tensors  ${rate.toFixed(0)} MB/s`;
    stream.write(`\r\x1b[2K${shown}`);
  };
  let latest: ConvertProgress | null = null;
  return {
    step(message) {
      if (tty) clear();
      (tty ? stream : lines).write(message + '\n');
      if (tty && latest) draw(latest);
    },
    update(p) {
      latest = p;
      if (!tty) return;
      const now = performance.now();
      if (now - last < 100 && p.tensorsDone < p.tensorsTotal) return;
      last = now;
      draw(p);
    },
    done() {
      if (tty) clear();
    },
  };
}
