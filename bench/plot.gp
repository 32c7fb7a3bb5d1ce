# plot.gp - draws the two plots of bench/README.md from results.tsv:
#   throughput.png  append throughput (MB/s of key+value bytes) against value
#                   size, libeventlog W1-style sends vs B0 memcpy into a fresh
#                   and a pre-faulted mapping (median, bars = min..max)
#   latency.png     W7 (threads) and W8 (processes) latency percentiles, with
#                   the shared-memory ring baselines (BT, BP) at 100k/s
# Usage: gnuplot -e "tsv='out/results.tsv'; outdir='out'" plot.gp
# Columns of results.tsv: 1 id, 2 name, 3 unit, 4 runs, 5 median, 6 min,
# 7 max, 8 vs, 9 ratio, 10 target, 11 verdict, 12 group, 13 series, 14 x.
# Series without data (a failed figure, an --only run) are left out.

if (!exists("tsv")) tsv = 'out/results.tsv'
if (!exists("outdir")) outdir = 'out'

# Each series is extracted with awk into its own file (name) first; the
# result is its number of rows. Sweep rows are in MB/s (the 100-byte point is
# reported in Mrec/s: times 108 bytes per record); latency rows are
# percentile index (1..4), median, min, max.
sweep(s, name) = int(system(sprintf("awk -F'\t' -v s='%s' '$12==\"sweep\" && $13==s && $5 ~ /^[0-9]/ {f=($3==\"Mrec/s\")?($14+8):1; print $14, $5*f, $6*f, $7*f}' '%s' | sort -n > '%s'; wc -l < '%s'", s, tsv, name, name)))
lat(s, name) = int(system(sprintf("awk -F'\t' -v s='%s' 'BEGIN{i[\"p50\"]=1;i[\"p99\"]=2;i[\"p99.9\"]=3;i[\"max\"]=4} $12==\"latency\" && $13==s && $5 ~ /^[0-9]/ {print i[$14], $5, $6, $7}' '%s' | sort -n > '%s'; wc -l < '%s'", s, tsv, name, name)))
dat(kind, i) = sprintf("%s/plot-%s-%d.dat", outdir, kind, i)

# One "plot" clause per series that has rows, joined by commas.
clause(file, style, title) = sprintf("'%s' using 1:2:3:4 with yerrorlines %s title \"%s\"", file, style, title)
join(a, b) = strlen(a) ? a . ", " . b : b
# An empty frame saying so, when no series has data (then the next frame
# gets its settings back from the lines that follow it).
nodata = 'set label 1 "no data" at graph 0.5, 0.5 center; unset logscale; set yrange [0:1]; plot -1 notitle; unset label 1; set autoscale y; set logscale y'

set terminal pngcairo size 1000,620 font ",10" noenhanced
set datafile separator whitespace
set grid
set key top left

# ---- throughput -----------------------------------------------------------------
array S[3] = ["libeventlog send", "B0 fresh map", "B0 pre-faulted map"]
array ST[3] = ["libeventlog evl_producer_send (W1/W2)", "B0 memcpy, freshly mapped file", "B0 memcpy, pre-faulted mapping"]
array SS[3] = ["lw 2 pt 7", "lw 2 pt 5", "lw 2 pt 9 dt 2"]
set output outdir.'/throughput.png'
set title "Append throughput against value size (8-byte key, one thread, one call per record)"
set xlabel "value size, bytes"
set ylabel "MB/s of key + value bytes (median; bars: min..max)"
set logscale xy
set xtics ("16" 16, "100" 100, "1 KiB" 1024, "4 KiB" 4096, "16 KiB" 16384)
set xrange [11:24000]
cmd = ""
do for [i=1:3] { if (sweep(S[i], dat("sweep", i)) > 0) { cmd = join(cmd, clause(dat("sweep", i), SS[i], ST[i])) } }
if (strlen(cmd)) { eval("plot " . cmd) } else { eval(nodata) }
unset output

# ---- latency ---------------------------------------------------------------------
set terminal pngcairo size 1200,560 font ",10" noenhanced
set output outdir.'/latency.png'
unset logscale
set logscale y
set xrange [0.7:4.3]
set xtics ("p50" 1, "p99" 2, "p99.9" 3, "max" 4)
unset xlabel
set ylabel "microseconds (median of runs; bars: min..max)"
set key below font ",9"
array RS[2] = ["lw 1 dt 2 pt 6 lc rgb '#404040'", "lw 1 dt 3 pt 4 lc rgb '#000000'"]
array E[4] = ["busy-poll 100k/s", "blocking 100k/s", "busy-poll full speed", "blocking full speed"]
set multiplot layout 1,2 title "Producer to consumer latency, 8-byte key + 100-byte value"
do for [side=1:2] {
    w = side == 1 ? "W7" : "W8"
    b = side == 1 ? "BT" : "BP"
    set title side == 1 ? "W7: between threads" : "W8: between processes (fork)"
    cmd = ""
    do for [i=1:4] { f = dat(w, i); if (lat(w.' '.E[i], f) > 0) { cmd = join(cmd, clause(f, "lw 2", 'evl '.E[i])) } }
    do for [i=1:2] { f = dat(b, i); if (lat(b.' '.E[i], f) > 0) { cmd = join(cmd, clause(f, RS[i], 'shm ring '.E[i])) } }
    if (strlen(cmd)) { eval("plot " . cmd) } else { eval(nodata) }
}
unset multiplot
unset output
