// Download speed over a sliding window, for the progress events' estimate of the time left: a window
// follows changes of speed that an average since the start would hide.

export interface RateSample {
  readonly bytesPerSecond: number;
  /** Seconds for `left` bytes at that speed; undefined until there is a speed. */
  readonly secondsLeft: number | undefined;
}

export class RateMeter {
  private readonly samples: { t: number; bytes: number }[] = [];

  constructor(
    private readonly windowMs = 5000,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Records that `bytes` in total have arrived by now; returns the speed and the time for `left` more. */
  sample(bytes: number, left: number): RateSample {
    const t = this.now();
    this.samples.push({ t, bytes });
    while (this.samples.length > 2 && t - this.samples[1].t >= this.windowMs) this.samples.shift();
    const first = this.samples[0];
    const dt = (t - first.t) / 1000;
    const bytesPerSecond = dt > 0 ? (bytes - first.bytes) / dt : 0;
    return { bytesPerSecond, secondsLeft: bytesPerSecond > 0 ? left / bytesPerSecond : undefined };
  }
}
