#!/bin/sh
# make demo: run the examples with readable output.
set -e
BIN=${1:-build/examples}
DATA=demo-data
rm -rf "$DATA"
echo "== 1. durable pub/sub between threads (one producer, three readers)"
"$BIN/pubsub_threads" "$DATA/pubsub"
echo
echo "== 2. an IoT store-and-forward queue that survives kill -9"
echo "-- store readings with fsync durability; kill -9 the producer after 0.5 s"
"$BIN/durable_queue" -d "$DATA/queue" produce 1000000 > "$DATA/produced.txt" &
PID=$!
sleep 0.5
kill -9 $PID 2>/dev/null || true
wait $PID 2>/dev/null || true
ACKED=$(grep -c '^stored' "$DATA/produced.txt" || true)
echo "   producer killed after $ACKED acknowledged reading(s)"
"$BIN/durable_queue" -d "$DATA/queue" status
echo "-- restart the producer: it appends after what survived"
"$BIN/durable_queue" -d "$DATA/queue" produce 3 | sed 's/^/   /'
echo "-- forward everything upstream as group 'uplink' (first lines shown)"
"$BIN/durable_queue" -d "$DATA/queue" forward > "$DATA/forwarded.txt"
head -n 3 "$DATA/forwarded.txt" | sed 's/^/   /'
echo "   ..."
FWD=$(grep -c '^forwarded' "$DATA/forwarded.txt" || true)
echo "   forwarded $FWD reading(s); every acknowledged one is there: $( [ "$FWD" -ge "$ACKED" ] && echo yes || echo NO)"
echo "-- forwarding again finds nothing new (offsets were committed)"
"$BIN/durable_queue" -d "$DATA/queue" forward | wc -l | sed 's/^/   lines: /'
"$BIN/durable_queue" -d "$DATA/queue" status
[ "$FWD" -ge "$ACKED" ]
echo
echo "== 3. Kafka Connect in the application: a file into a topic, a sink of its own"
printf 'temperature 20.5\nhumidity 41\npressure 1013\n' > "$DATA/readings.txt"
echo "-- first run: every line, turned into JSON by transforms (HoistField, InsertField)"
"$BIN/connect_files" "$DATA/connect" "$DATA/readings.txt"
printf 'wind 12\n' >> "$DATA/readings.txt"
echo "-- a line added; second run: only what is new (progress was committed)"
"$BIN/connect_files" "$DATA/connect" "$DATA/readings.txt"
echo
echo "== 4. a schema registry in the application: formats evolve, incompatible changes fail"
"$BIN/registry_evolve" "$DATA/registry"
echo
echo "== 5. stream processing: Kafka's WordCountDemo (exactly once)"
EVL=${EVL:-build/evl}
"$BIN/wordcount" -d "$DATA/streams" &
WC=$!
for i in 1 2 3 4 5 6 7 8 9 10; do
  [ -d "$DATA/streams" ] && break; sleep 0.2
done
printf 'all streams lead to kafka\nhello kafka streams\njoin kafka summit\n' |
  "$EVL" -d "$DATA/streams" produce streams-plaintext-input --create
for i in $(seq 1 100); do
  N=$("$EVL" -d "$DATA/streams" consume streams-wordcount-output 2>/dev/null | wc -l)
  [ "$N" -ge 11 ] && break; sleep 0.1
done
kill -TERM $WC; wait $WC
echo "-- streams-wordcount-output (word count), as Kafka's documentation shows it:"
"$EVL" -d "$DATA/streams" consume streams-wordcount-output -f '   %k %s\n'
echo
echo "== 6. IoT readings averaged per sensor per 1-minute window, 10 s grace, final results only"
"$BIN/sensor_windows" --demo -d "$DATA/sensor-windows"
echo
echo "== 7. orders enriched with a customers table (a stream-table join)"
"$BIN/enrich_join" --demo -d "$DATA/enrich"
