// Stage 1: the highest webhook rate with p99 ≤ 25 ms, against the raw signalWithStart rate.
import { WEBHOOK_SECRET } from '../../src/dev/cluster';
import type { BenchContext } from '../context';
import { log, runChild } from '../measure';
import type { Progress } from '../sizing';

export interface RatePoint {
  target: number;
  rps: number;
  p50: number;
  p99: number;
  non2xx?: number;
  errors: number;
}

export interface Quantiles {
  p50: number;
  p99: number;
}

export interface IntakeResult {
  intakeMaxRateP99Under25ms: number;
  rawSignalWithStartMaxRateP99Under25ms: number;
  intakeToRawRatio: number | null;
  /** Highest rate each side actually delivered (its saturation), and their ratio. */
  intakeSaturationRps: number;
  rawSaturationRps: number;
  saturationRatio: number | null;
  intakeAt200: Quantiles | null;
  intakeSteps: RatePoint[];
  rawSteps: RatePoint[];
}

const bestRate = (points: RatePoint[]) =>
  Math.max(0, ...points.filter((point) => point.p99 <= 25 && (point.non2xx ?? 0) === 0 && point.errors === 0 && point.rps >= 0.9 * point.target).map((point) => point.target));

/** The highest request rate a side actually delivered over all steps. */
const saturation = (points: RatePoint[]) => Math.round(Math.max(0, ...points.map((point) => point.rps)));

/** The stage's figures from the steps measured so far. */
function summary(intake: RatePoint[], raw: RatePoint[]): IntakeResult {
  const at200 = intake.find((point) => point.target === 200);
  const maxIntake = bestRate(intake);
  const maxRaw = bestRate(raw);
  return {
    intakeMaxRateP99Under25ms: maxIntake,
    rawSignalWithStartMaxRateP99Under25ms: maxRaw,
    intakeToRawRatio: maxRaw ? Number((maxIntake / maxRaw).toFixed(2)) : null,
    intakeSaturationRps: saturation(intake),
    rawSaturationRps: saturation(raw),
    saturationRatio: saturation(raw) ? Number((saturation(intake) / saturation(raw)).toFixed(2)) : null,
    intakeAt200: at200 ? { p50: at200.p50, p99: at200.p99 } : null,
    intakeSteps: [...intake].sort((a, b) => a.target - b.target),
    rawSteps: [...raw].sort((a, b) => a.target - b.target),
  };
}

export async function intakeStage({ options: { quick }, newCluster }: BenchContext, progress: Progress<IntakeResult>): Promise<IntakeResult> {
  // No worker: the intake path alone, as the raw client has none either (a busy worker would
  // take the same 2 cores from whichever ran second).
  const cluster = await newCluster({ LOG_LEVEL: 'warn' });
  // Steps of 25/s where the 25 ms line is crossed (a doubling ladder made the ratio jump between
  // 0.5 and 2 from run to run); intake and raw alternate at each step, so drift in the machine's
  // speed during the stage touches both sides alike.
  const rates = quick ? [100, 200] : [25, 50, 75, 100, 125, 150, 175, 200, 300, 400];
  const seconds = quick ? '1' : '6';
  const intake: RatePoint[] = [];
  const raw: RatePoint[] = [];
  // With the API's payload key, so both sides encrypt alike.
  try {
    await cluster.start({ workers: 0 });
    const rawEnv = { ...process.env, TEMPORAL_PAYLOAD_KEY: cluster.env.TEMPORAL_PAYLOAD_KEY };
    // Not measured: the first requests of a fresh process (code not yet optimised, connections
    // and the server's caches cold) once put intake's p99 at 25/s at 41 ms in a run whose 50/s
    // step then passed.
    // (The quick run's 1-second steps are too short to judge a p99 anyway: no warm-up there.)
    if (!quick) {
      await runChild('bench/load.ts', [cluster.apiUrl, '50', '3', WEBHOOK_SECRET]);
      await runChild('bench/raw-signal.ts', [cluster.env.TEMPORAL_ADDRESS!, '50', '3'], rawEnv);
    }
    const probeIntake = async (rate: number) => {
      intake.push(JSON.parse(await runChild('bench/load.ts', [cluster.apiUrl, String(rate), seconds, WEBHOOK_SECRET])) as RatePoint);
      log(`  intake ${rate}/s: ${JSON.stringify(intake.at(-1))}`);
      progress.figures = summary(intake, raw);
    };
    const probeRaw = async (rate: number) => {
      raw.push(JSON.parse(await runChild('bench/raw-signal.ts', [cluster.env.TEMPORAL_ADDRESS!, String(rate), seconds], rawEnv)) as RatePoint);
      log(`  raw signalWithStart ${rate}/s: ${JSON.stringify(raw.at(-1))}`);
      progress.figures = summary(intake, raw);
    };
    for (const rate of rates) {
      await probeIntake(rate);
      await probeRaw(rate);
    }
    // The ladder alone can only give ratios like 0.75 or 1.0 near 100/s: halve the gap between
    // each side's highest rate that held the line and the next one that did not, twice (about
    // 6/s apart then), still alternating the two sides.
    if (!quick) {
      for (let round = 0; round < 2; round++) {
        for (const [points, probe] of [[intake, probeIntake], [raw, probeRaw]] as const) {
          const held = bestRate(points);
          const above = points.filter((point) => point.target > held).map((point) => point.target);
          if (above.length === 0) continue;
          const next = Math.round((held + Math.min(...above)) / 2);
          if (next > held && !points.some((point) => point.target === next)) await probe(next);
        }
      }
    }
  } finally {
    await cluster.close();
    cluster.remove();
  }
  return summary(intake, raw);
}
