/*
 * The window benchmark's jobs in Apache Flink 2.3.0, the peers of
 * bench/bench_timers.c's: a generator of (offset % KEYS, 1, offset / 10)
 * rows, event time from the third field (10 records per ms) with a
 * bounded out-of-orderness of 100 ms, keyBy field 0, then a tumbling 1 s
 * window reducing the count, or a sliding 10 s / 1 s window aggregating
 * (count, sum of offsets), into a discarding sink, at parallelism 1 on a
 * local MiniCluster of one TaskManager (Flink's heap state backend).
 *
 *   java WindowCount RECORDS KEYS RUNS tumbling|sliding
 *
 * Runs the job RUNS times in one JVM (the first pays for class loading and
 * the JIT) and prints, per run, wall time and the JVM's process CPU time.
 */
import java.lang.management.ManagementFactory;
import java.time.Duration;
import java.util.Map;

import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.functions.AggregateFunction;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.java.tuple.Tuple2;
import org.apache.flink.api.java.tuple.Tuple3;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.datastream.KeyedStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.sink.v2.DiscardingSink;
import org.apache.flink.streaming.api.windowing.assigners.SlidingEventTimeWindows;
import org.apache.flink.streaming.api.windowing.assigners.TumblingEventTimeWindows;

public class WindowCount {
	/* (count, sum of offsets) */
	static class CountSum implements AggregateFunction<Tuple3<Long, Long, Long>, Tuple2<Long, Long>, Tuple2<Long, Long>> {
		public Tuple2<Long, Long> createAccumulator() {
			return Tuple2.of(0L, 0L);
		}

		public Tuple2<Long, Long> add(Tuple3<Long, Long, Long> in, Tuple2<Long, Long> acc) {
			return Tuple2.of(acc.f0 + 1, acc.f1 + in.f2);
		}

		public Tuple2<Long, Long> getResult(Tuple2<Long, Long> acc) {
			return acc;
		}

		public Tuple2<Long, Long> merge(Tuple2<Long, Long> a, Tuple2<Long, Long> b) {
			return Tuple2.of(a.f0 + b.f0, a.f1 + b.f1);
		}
	}

	public static void main(String[] args) throws Exception {
		long n = args.length > 0 ? Long.parseLong(args[0]) : 1_000_000L;
		long keys = args.length > 1 ? Long.parseLong(args[1]) : 100_000L;
		int runs = args.length > 2 ? Integer.parseInt(args[2]) : 2;
		boolean sliding = args.length > 3 && args[3].equals("sliding");
		Configuration conf = Configuration.fromMap(Map.of(
				"minicluster.number-of-taskmanagers", "1",
				"taskmanager.numberOfTaskSlots", "1",
				"rest.bind-port", "0"));
		com.sun.management.OperatingSystemMXBean os =
				(com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
		for (int r = 1; r <= runs; r++) {
			StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(conf);
			env.setParallelism(1);
			DataStream<Tuple3<Long, Long, Long>> s = env.fromSequence(0, n - 1)
					.map(i -> Tuple3.of(i % keys, 1L, i / 10))
					.returns(Types.TUPLE(Types.LONG, Types.LONG, Types.LONG))
					.assignTimestampsAndWatermarks(
							WatermarkStrategy.<Tuple3<Long, Long, Long>>forBoundedOutOfOrderness(
									Duration.ofMillis(100))
									.withTimestampAssigner((t, ts) -> t.f2));
			KeyedStream<Tuple3<Long, Long, Long>, Long> k = s.keyBy(t -> t.f0);
			if (sliding)
				k.window(SlidingEventTimeWindows.of(Duration.ofSeconds(10), Duration.ofSeconds(1)))
						.aggregate(new CountSum())
						.sinkTo(new DiscardingSink<>());
			else
				k.window(TumblingEventTimeWindows.of(Duration.ofSeconds(1)))
						.reduce((a, b) -> Tuple3.of(a.f0, a.f1 + b.f1, a.f2))
						.sinkTo(new DiscardingSink<>());
			long c0 = os.getProcessCpuTime();
			long t0 = System.nanoTime();
			env.execute(sliding ? "Sliding" : "Tumbling");
			double dt = (System.nanoTime() - t0) / 1e9;
			double dc = (os.getProcessCpuTime() - c0) / 1e9;
			System.out.printf("flink %s run %d: %d records, %d keys in %.2f s = %.2f M records/s, %.0f CPU ns/record (JVM)%n",
					sliding ? "sliding" : "tumbling", r, n, keys, dt, n / dt / 1e6, dc * 1e9 / n);
		}
	}
}
