// Dates in the tests are shown in a fixed zone with a DST change, so formatting tests
// mean the same on every machine (Node reads TZ again when it changes).
process.env.TZ = 'Europe/Paris';
