// Latency recording in an HDR histogram (microsecond resolution, 3 significant digits).
import hdr from 'hdr-histogram-js';

export interface LatencySummary {
  count: number;
  /** All values in milliseconds. */
  minMs: number;
  meanMs: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
}

const HIGHEST_MICROS = 3_600_000_000; // one hour: anything slower is clamped

export class LatencyRecorder {
  private readonly histogram = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: HIGHEST_MICROS,
    numberOfSignificantValueDigits: 3,
    autoResize: false,
  });

  record(micros: number): void {
    // Clocks of two processes can disagree by a few microseconds; never record below 1.
    const value = micros < 1 ? 1 : micros > HIGHEST_MICROS ? HIGHEST_MICROS : Math.round(micros);
    this.histogram.recordValue(value);
  }

  get count(): number {
    return this.histogram.totalCount;
  }

  summary(): LatencySummary {
    const histogram = this.histogram;
    const toMs = (micros: number): number => Math.round(micros) / 1000;
    if (histogram.totalCount === 0) {
      return { count: 0, minMs: 0, meanMs: 0, p50Ms: 0, p90Ms: 0, p99Ms: 0, p999Ms: 0, maxMs: 0 };
    }
    return {
      count: histogram.totalCount,
      minMs: toMs(histogram.minNonZeroValue),
      meanMs: toMs(histogram.mean),
      p50Ms: toMs(histogram.getValueAtPercentile(50)),
      p90Ms: toMs(histogram.getValueAtPercentile(90)),
      p99Ms: toMs(histogram.getValueAtPercentile(99)),
      p999Ms: toMs(histogram.getValueAtPercentile(99.9)),
      maxMs: toMs(histogram.maxValue),
    };
  }

  destroy(): void {
    this.histogram.destroy();
  }
}
