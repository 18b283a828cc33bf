# sim-chart.gp — the chart of a `ringfence sim --out DIR` run: hosts that
# took the release, crashed, are down, recovered by themselves and rolled
# back, over simulated time on a log scale, with the wave openings and the
# halt as vertical lines. `ringfence sim --out DIR` writes this script as
# DIR/chart.gp and runs it; to draw again:
#
#   gnuplot -e "dir='DIR'" DIR/chart.gp
#
# Reads DIR/timeline.csv and DIR/marks.csv, writes DIR/chart.svg. A zero
# cannot be drawn on a log scale, so zeros are left out of each line.
if (!exists("dir")) dir = "."
if (!exists("title")) title = "ringfence sim"
set terminal svg size 1100,620 dynamic enhanced font "sans,11" background rgb "white"
set output dir."/chart.svg"
set datafile separator ","
# The scale first (before any range or log axis, which stats would obey).
stats dir."/timeline.csv" every ::1 using 2 nooutput
ymax = (STATS_max > 10) ? STATS_max * 3 : 30
stats dir."/marks.csv" every ::1 using (strcol(2) eq "halt" ? 1 : 0) nooutput
halt_title = (STATS_max > 0) ? "halt" : ""
set key below horizontal maxrows 2
set logscale y
set yrange [0.8:*]
set format y "10^{%L}"
set xlabel "simulated time (hours)"
set ylabel "hosts"
set grid xtics ytics
set title title noenhanced
nz(v) = (v > 0) ? v : NaN
set yrange [0.8:ymax]
set style line 1 lc rgb "#1f77b4" lw 2
set style line 2 lc rgb "#d62728" lw 2
set style line 3 lc rgb "#ff7f0e" lw 2 dt 2
set style line 4 lc rgb "#2ca02c" lw 2
set style line 5 lc rgb "#9467bd" lw 2
set style line 6 lc rgb "#7f7f7f" lw 1 dt 3
set style line 7 lc rgb "#000000" lw 1
set style line 8 lc rgb "#1f77b4" lw 2 dt 3
plot dir."/timeline.csv" every ::1 using ($1/60.0):(nz($2)) with lines ls 1 title "exposed (took it)", \
     dir."/timeline.csv" every ::1 using ($1/60.0):(nz($3)) with lines ls 8 title "customer hosts exposed", \
     dir."/timeline.csv" every ::1 using ($1/60.0):(nz($4)) with lines ls 2 title "crashed", \
     dir."/timeline.csv" every ::1 using ($1/60.0):(nz($6)) with lines ls 3 title "down now", \
     dir."/timeline.csv" every ::1 using ($1/60.0):(nz($7)) with lines ls 4 title "recovered by the boot guard", \
     dir."/timeline.csv" every ::1 using ($1/60.0):(nz($9)) with lines ls 5 title "rolled back", \
     dir."/marks.csv" every ::1 using ($1/60.0):(strcol(2) eq "halt" ? NaN : 0.8):(0):(ymax-0.8) with vectors nohead ls 6 notitle, \
     dir."/marks.csv" every ::1 using ($1/60.0):(strcol(2) eq "halt" ? 0.8 : NaN):(0):(ymax-0.8) with vectors nohead ls 7 title halt_title, \
     dir."/marks.csv" every ::1 using ($1/60.0):(ymax/1.6):2 with labels rotate by 90 right offset 0.6,0 font "sans,9" notitle, \
     1 with lines lt -2 notitle
