import type { Attributes } from '@opentelemetry/api';
import {
  AggregationTemporality,
  DataPointType,
  MeterProvider,
  MetricReader,
  type Histogram,
} from '@opentelemetry/sdk-metrics';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
} from '@opentelemetry/sdk-trace-base';

/** A metric reader that only collects when asked. */
class CollectingReader extends MetricReader {
  constructor() {
    super({ aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE });
  }
  protected override onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
  protected override onShutdown(): Promise<void> {
    return Promise.resolve();
  }
}

/** One data point of a collected metric, flattened for assertions. */
export interface Point {
  readonly name: string;
  readonly unit: string;
  readonly attributes: Attributes;
  /** A counter's sum, or a histogram's count. */
  readonly value: number;
  /** A histogram's sum. */
  readonly sum?: number;
}

/** A real OTel SDK: tracer and meter providers with in-memory export. */
export class OtelHarness {
  readonly spanExporter = new InMemorySpanExporter();
  readonly tracerProvider = new BasicTracerProvider({
    spanProcessors: [new SimpleSpanProcessor(this.spanExporter)],
  });
  private readonly reader = new CollectingReader();
  readonly meterProvider = new MeterProvider({ readers: [this.reader] });

  spans(): ReadableSpan[] {
    return this.spanExporter.getFinishedSpans();
  }

  span(name: string): ReadableSpan {
    const found = this.spans().filter((s) => s.name === name);
    if (found.length !== 1) {
      throw new Error(`expected one span "${name}", got ${found.length}: ${this.names()}`);
    }
    return found[0] as ReadableSpan;
  }

  names(): string[] {
    return this.spans().map((s) => s.name);
  }

  /** Spans whose parent is `parent`. */
  children(parent: ReadableSpan): ReadableSpan[] {
    return this.spans().filter((s) => s.parentSpanContext?.spanId === parent.spanContext().spanId);
  }

  async points(): Promise<Point[]> {
    const { resourceMetrics, errors } = await this.reader.collect();
    if (errors.length > 0) throw errors[0];
    const points: Point[] = [];
    for (const scope of resourceMetrics.scopeMetrics) {
      for (const metric of scope.metrics) {
        for (const point of metric.dataPoints) {
          const { name, unit } = metric.descriptor;
          if (metric.dataPointType === DataPointType.HISTOGRAM) {
            const value = point.value as Histogram;
            points.push({
              name,
              unit,
              attributes: point.attributes,
              value: value.count,
              sum: value.sum,
            });
          } else {
            points.push({ name, unit, attributes: point.attributes, value: point.value as number });
          }
        }
      }
    }
    return points;
  }

  /** The summed value of `name`'s points whose attributes include `match`. */
  async total(name: string, match: Attributes = {}): Promise<number> {
    return (await this.points())
      .filter((p) => p.name === name)
      .filter((p) => Object.entries(match).every(([k, v]) => p.attributes[k] === v))
      .reduce((sum, p) => sum + p.value, 0);
  }

  async shutdown(): Promise<void> {
    await this.tracerProvider.shutdown();
    await this.meterProvider.shutdown();
  }
}
