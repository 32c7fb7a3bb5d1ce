# plot.gp - draws the two plots of bench/README.md from results.tsv:
#   throughput.png  append throughput (MB/s of key+value bytes) against value
#                   size, libeventlog W1-style sends vs B0 memcpy into a fresh
#                   and a pre-faulted mapping (median, bars = min..max)
#   latency.png     W7 (threads) and W8 (processes) latency percentiles, with
#                   the shared-memory ring baselines (BT, BP) at 100k/s
# Usage: gnuplot -e "tsv='out/results.tsv'; outdir='out'" plot.gp
# Columns of results.tsv: 1 id, 2 name, 3 unit, 4 runs, 5 median, 6 min,
# 7 max, 8 vs, 9 ratio, 10 target, 11 verdict, 12 group, 13 series, 14 x.

if (!exists("tsv")) tsv = 'out/results.tsv'
if (!exists("outdir")) outdir = 'out'

# Rows of one series of the size sweep, in MB/s (the 100-byte point is
# reported in Mrec/s: times 108 bytes per record).
sweep(s) = sprintf("< awk -F'\t' -v s='%s' '$12==\"sweep\" && $13==s && $5 ~ /^[0-9]/ {f=($3==\"Mrec/s\")?($14+8):1; print $14, $5*f, $6*f, $7*f}' '%s' | sort -n", s, tsv)
# Rows of one latency series: percentile index (1..4), median, min, max.
lat(s) = sprintf("< awk -F'\t' -v s='%s' 'BEGIN{i[\"p50\"]=1;i[\"p99\"]=2;i[\"p99.9\"]=3;i[\"max\"]=4} $12==\"latency\" && $13==s && $5 ~ /^[0-9]/ {print i[$14], $5, $6, $7}' '%s' | sort -n", s, tsv)

set terminal pngcairo size 1000,620 font ",10"
set datafile separator whitespace
set grid
set key top left

# ---- throughput -----------------------------------------------------------------
set output outdir.'/throughput.png'
set title "Append throughput against value size (8-byte key, one thread, one call per record)"
set xlabel "value size, bytes"
set ylabel "MB/s of key + value bytes (median; bars: min..max)"
set logscale xy
set xtics ("16" 16, "100" 100, "1 KiB" 1024, "4 KiB" 4096, "16 KiB" 16384)
set xrange [11:24000]
plot sweep('libeventlog send')   using 1:2:3:4 with yerrorlines lw 2 pt 7 title 'libeventlog evl\_producer\_send (W1/W2)', \
     sweep('B0 fresh map')       using 1:2:3:4 with yerrorlines lw 2 pt 5 title 'B0 memcpy, freshly mapped file', \
     sweep('B0 pre-faulted map') using 1:2:3:4 with yerrorlines lw 2 pt 9 dt 2 title 'B0 memcpy, pre-faulted mapping'
unset output

# ---- latency ---------------------------------------------------------------------
set output outdir.'/latency.png'
set terminal pngcairo size 1200,560 font ",10"
unset logscale
set logscale y
set xrange [0.7:4.3]
set xtics ("p50" 1, "p99" 2, "p99.9" 3, "max" 4)
set xlabel "percentile"
set ylabel "microseconds (median of runs; bars: min..max)"
set key top left font ",9"
array E[4] = ["busy-poll 100k/s", "blocking 100k/s", "busy-poll full speed", "blocking full speed"]
set multiplot layout 1,2 title "Producer to consumer latency, 8-byte key + 100-byte value"
set title "W7: between threads"
plot for [i=1:4] lat('W7 '.E[i]) using 1:2:3:4 with yerrorlines lw 2 title 'evl '.E[i], \
     for [i=1:2] lat('BT '.E[i]) using 1:2:3:4 with yerrorlines lw 1 dt 2 title 'shm ring '.E[i]
set title "W8: between processes (fork)"
plot for [i=1:4] lat('W8 '.E[i]) using 1:2:3:4 with yerrorlines lw 2 title 'evl '.E[i], \
     for [i=1:2] lat('BP '.E[i]) using 1:2:3:4 with yerrorlines lw 1 dt 2 title 'shm ring '.E[i]
unset multiplot
unset output
