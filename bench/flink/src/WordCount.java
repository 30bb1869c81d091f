/*
 * Streaming WordCount in Apache Flink 2.3.0, the peer of examples/wordcount.c
 * run with `--mode streaming --output DIR` and checkpoints on
 * (bench/wordcount_vs_flink.sh):
 *
 *   FileSource (TextLineInputFormat) -> flatMap (the tokenizer below)
 *     -> keyBy(word) -> sum(1) -> FileSink (row format, exactly once)
 *
 * in STREAMING mode with a checkpoint every INTERVAL_MS milliseconds, state
 * on the heap (hashmap) or in RocksDB (rocksdb), on a local MiniCluster of
 * one TaskManager with PARALLELISM slots.
 *
 *   java WordCount RUNS PARALLELISM BACKEND INTERVAL_MS WORKDIR INPUT...
 *
 * Runs the job RUNS times in one JVM (the first pays for class loading and
 * the JIT), run r writing to WORKDIR/out-r with its checkpoints under
 * WORKDIR/chk-r, and prints per run its wall time, the JVM's process CPU
 * time during it and the checkpoints the first tokenizer subtask saw
 * complete.
 *
 * The tokenizer is examples/wordcount.c's: words are maximal runs of ASCII
 * letters and digits, lowercased (ASCII only). Every update of a count is
 * written as `word<TAB>count\n`, flinc's text sink's line for a
 * (string, int64) row, by an Encoder that writes the bytes directly (no
 * String built per record). The sink rolls its part file at each checkpoint
 * (OnCheckpointRollingPolicy), as flinc's exactly-once sink does: a part file
 * becomes pending at the checkpoint and is committed when it completes. The
 * output is written into WORKDIR/out-r itself (BasePathBucketAssigner), not
 * into Flink's default date-time buckets.
 */
import java.io.IOException;
import java.io.OutputStream;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;

import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.JobExecutionResult;
import org.apache.flink.api.common.functions.FlatMapFunction;
import org.apache.flink.api.common.serialization.Encoder;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.java.tuple.Tuple2;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.connector.file.sink.FileSink;
import org.apache.flink.connector.file.src.FileSource;
import org.apache.flink.connector.file.src.reader.TextLineInputFormat;
import org.apache.flink.core.fs.Path;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.sink.filesystem.bucketassigners.BasePathBucketAssigner;
import org.apache.flink.streaming.api.functions.sink.filesystem.rollingpolicies.OnCheckpointRollingPolicy;
import org.apache.flink.util.Collector;

public class WordCount {
	/* examples/wordcount.c's wordcount_tokenize. */
	public static final class Tokenizer implements FlatMapFunction<String, Tuple2<String, Long>> {
		private static boolean isWordChar(char c) {
			return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
		}

		@Override
		public void flatMap(String s, Collector<Tuple2<String, Long>> out) {
			int len = s.length();
			int i = 0;
			while (i < len) {
				while (i < len && !isWordChar(s.charAt(i)))
					i++;
				int start = i;
				boolean upper = false;
				while (i < len && isWordChar(s.charAt(i))) {
					char c = s.charAt(i);
					upper |= c >= 'A' && c <= 'Z';
					i++;
				}
				if (i == start)
					break;
				String word;
				if (upper) {
					char[] w = new char[i - start];
					for (int k = 0; k < w.length; k++) {
						char c = s.charAt(start + k);
						w[k] = (c >= 'A' && c <= 'Z') ? (char) (c - 'A' + 'a') : c;
					}
					word = new String(w);
				} else {
					word = s.substring(start, i);
				}
				out.collect(Tuple2.of(word, 1L));
			}
		}
	}

	/* `word<TAB>count\n`; words are ASCII (the tokenizer's). */
	public static final class LineEncoder implements Encoder<Tuple2<String, Long>> {
		private static final long serialVersionUID = 1L;

		@Override
		public void encode(Tuple2<String, Long> t, OutputStream os) throws IOException {
			os.write(t.f0.getBytes(StandardCharsets.ISO_8859_1));
			os.write('\t');
			os.write(Long.toString(t.f1).getBytes(StandardCharsets.ISO_8859_1));
			os.write('\n');
		}
	}

	public static void main(String[] args) throws Exception {
		if (args.length < 6) {
			System.err.println("usage: WordCount RUNS PARALLELISM BACKEND INTERVAL_MS WORKDIR INPUT...");
			System.exit(2);
		}
		int runs = Integer.parseInt(args[0]);
		int p = Integer.parseInt(args[1]);
		String backend = args[2];
		long intervalMs = Long.parseLong(args[3]);
		String work = args[4];
		Path[] inputs = new Path[args.length - 5];
		for (int k = 5; k < args.length; k++)
			inputs[k - 5] = new Path(new java.io.File(args[k]).getAbsolutePath());

		com.sun.management.OperatingSystemMXBean os =
				(com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
		for (int r = 1; r <= runs; r++) {
			String out = new java.io.File(work, "out-" + r).getAbsolutePath();
			String chk = new java.io.File(work, "chk-" + r).toURI().toString();
			Map<String, String> c = new HashMap<>();
			c.put("execution.runtime-mode", "STREAMING");
			c.put("execution.checkpointing.interval", intervalMs + " ms");
			c.put("execution.checkpointing.dir", chk);
			c.put("state.backend.type", backend);
			c.put("taskmanager.numberOfTaskSlots", Integer.toString(p));
			c.put("rest.bind-port", "0");
			Configuration conf = Configuration.fromMap(c);
			StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(conf);
			env.setParallelism(p);
			FileSource<String> source =
					FileSource.forRecordStreamFormat(new TextLineInputFormat(), inputs).build();
			FileSink<Tuple2<String, Long>> sink = FileSink
					.forRowFormat(new Path(out), new LineEncoder())
					.withBucketAssigner(new BasePathBucketAssigner<>())
					.withRollingPolicy(OnCheckpointRollingPolicy.build())
					.build();
			env.fromSource(source, WatermarkStrategy.noWatermarks(), "Text")
					.flatMap(new Tokenizer())
					.returns(Types.TUPLE(Types.STRING, Types.LONG))
					.name("Tokenizer")
					.keyBy(t -> t.f0)
					.sum(1)
					.sinkTo(sink);
			long c0 = os.getProcessCpuTime();
			long t0 = System.nanoTime();
			JobExecutionResult res = env.execute("WordCount");
			double dt = (System.nanoTime() - t0) / 1e9;
			double dc = (os.getProcessCpuTime() - c0) / 1e9;
			System.out.printf("flink run %d: job %s, %.2f s wall, %.2f s CPU (JVM)%n",
					r, res.getJobID(), dt, dc);
		}
	}
}
