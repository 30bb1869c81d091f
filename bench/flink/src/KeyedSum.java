/*
 * The keyed benchmark's job in Apache Flink 2.3.0, the peer of
 * bench/jobs/keyed_sum.c: a generator of (i & 1023, 1) rows, keyBy field 0,
 * sum field 1, discard, at parallelism 2 on a local MiniCluster.
 *
 *   java KeyedSum RECORDS RUNS TASKMANAGERS
 *
 * RECORDS 0 runs without end (bench/flink_cluster.sh's submission times).
 * Runs the job RUNS times in one JVM (the first pays for class loading and
 * the JIT) and prints, per run, wall time and the JVM's process CPU time.
 * With TASKMANAGERS = 2 the MiniCluster has two TaskManagers of one slot
 * each, so the keyed exchange goes through Netty on loopback (flinc's
 * local.number-taskmanager = 2); with 1, one TaskManager of two slots (local
 * channels).
 */
import java.lang.management.ManagementFactory;
import java.util.Map;

import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.java.tuple.Tuple2;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.sink.v2.DiscardingSink;

public class KeyedSum {
	public static void main(String[] args) throws Exception {
		long n = args.length > 0 ? Long.parseLong(args[0]) : 50_000_000L;
		int runs = args.length > 1 ? Integer.parseInt(args[1]) : 2;
		String tms = args.length > 2 ? args[2] : "1";
		Configuration conf = Configuration.fromMap(Map.of(
				"minicluster.number-of-taskmanagers", tms,
				"taskmanager.numberOfTaskSlots", tms.equals("1") ? "2" : "1",
				"rest.bind-port", "0"));
		com.sun.management.OperatingSystemMXBean os =
				(com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
		for (int r = 1; r <= runs; r++) {
			StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(conf);
			env.setParallelism(2);
			env.fromSequence(0, n > 0 ? n - 1 : Long.MAX_VALUE - 1)
					.map(i -> Tuple2.of(i & 1023, 1L))
					.returns(Types.TUPLE(Types.LONG, Types.LONG))
					.keyBy(t -> t.f0)
					.sum(1)
					.sinkTo(new DiscardingSink<>());
			long c0 = os.getProcessCpuTime();
			long t0 = System.nanoTime();
			env.execute("KeyedSum");
			double dt = (System.nanoTime() - t0) / 1e9;
			double dc = (os.getProcessCpuTime() - c0) / 1e9;
			System.out.printf("flink run %d: %d records in %.2f s = %.2f M records/s, %.2f s CPU (JVM)%n",
					r, n, dt, n / dt / 1e6, dc);
		}
	}
}
