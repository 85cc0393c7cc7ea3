// Sizes on the command line (`--gpu-memory 2GiB`): a number of bytes, or one with a unit. KB/MB/GB are
// read as KiB/MiB/GiB, the way GPU memory is usually quoted.
import { UsageError } from './args';

const UNITS: Record<string, number> = { '': 1, b: 1, k: 2 ** 10, kb: 2 ** 10, kib: 2 ** 10, m: 2 ** 20, mb: 2 ** 20, mib: 2 ** 20, g: 2 ** 30, gb: 2 ** 30, gib: 2 ** 30 };

export function parseByteSize(option: string, value: string | number): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(String(value));
  const unit = m ? UNITS[m[2].toLowerCase()] : undefined;
  if (!m || unit === undefined || !(Number(m[1]) > 0)) throw new UsageError(`--${option} needs a size such as 2GiB, 512MiB or a number of bytes (got "${value}")`);
  return Math.floor(Number(m[1]) * unit);
}
