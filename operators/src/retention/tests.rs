use std::collections::BTreeMap;

use rand::{Rng, SeedableRng};

use super::*;

const S: u64 = NANOS_PER_SEC;
const H: u64 = 3_600 * S;
const NOW: u64 = 1_795_759_200 * S;

fn doc(json: &str) -> PolicyDoc {
    serde_json::from_str(json).expect("a policy document")
}

#[test]
fn defaults_keep_two_weeks_of_detail_and_longer_of_coarser_tiers() {
    let p = Policy::defaults(&Tiers::default());
    assert_eq!((p.traces, p.logs, p.points), (15 * DAY, 15 * DAY, 15 * DAY));
    let tiers: Vec<(&str, u64)> = p.tiers.iter().map(|(l, s)| (l.as_str(), *s / DAY)).collect();
    assert_eq!(tiers, [("1d", 1_826), ("1h", 400), ("1m", 15), ("5m", 60)]);
    assert_eq!(Policy::resolve(&PolicyDoc::default(), &Tiers::default()), Ok(p.clone()));
    assert_eq!(Policy::resolve(&p.doc(), &Tiers::default()), Ok(p));
}

#[test]
fn a_document_overrides_what_it_names_and_each_mistake_names_its_field() {
    let tiers = Tiers::default();
    let p = Policy::resolve(&doc(r#"{"traces":"30d","tiers":{"1h":"800d"}}"#), &tiers).expect("valid");
    assert_eq!((p.traces, p.logs, p.tiers["1h"], p.tiers["1d"]), (30 * DAY, 15 * DAY, 800 * DAY, 1_826 * DAY));
    let refused = |json: &str| Policy::resolve(&doc(json), &tiers).expect_err(json);
    assert!(refused(r#"{"logs":"soon"}"#).starts_with("logs: \"soon\" is not a duration"));
    assert!(refused(r#"{"points":"30m"}"#).starts_with("points: 30m is outside 1h … 3650d"));
    assert!(refused(r#"{"traces":"3651d"}"#).starts_with("traces: 3651d is outside"));
    assert_eq!(refused(r#"{"tiers":{"10m":"3d"}}"#), "tiers.10m: no such rollup tier (the tiers are 1m, 5m, 1h, 1d)");
    assert_eq!(
        refused(r#"{"tiers":{"5m":"7d"}}"#),
        "tiers.5m: keeps 7d but the finer tier 1m keeps 15d: a coarser tier must keep at least as long"
    );
    assert!(serde_json::from_str::<PolicyDoc>(r#"{"metrics":"3d"}"#).is_err(), "unknown fields are refused");
}

#[test]
fn a_tiers_cutoff_keeps_the_bucket_holding_now_minus_keep_whole() {
    // 1h tier kept 2 days; now is 25 minutes into an hour.
    let now = NOW + 25 * 60 * S;
    assert_eq!(cutoff(2 * DAY, H, now), NOW - 2 * DAY * S);
    // Traces move by whole minutes.
    assert_eq!(cutoff(DAY, 60 * S, now + 59 * S), now - DAY * S);
    assert_eq!(cutoff(DAY, 60 * S, 10 * S), 0, "a keep longer than the clock cuts nothing");
}

#[test]
fn shrinking_moves_the_cutoff_at_once_and_lengthening_never_moves_it_back() {
    let tiers = Tiers::default();
    let mut r = Retention::new(tiers.clone());
    r.set_policy("p", Some(Policy::defaults(&tiers)));
    assert!(r.advance().is_empty(), "no clock yet, no tombstone");
    r.tick(NOW);
    let first: BTreeMap<String, u64> = r.advance().into_iter().map(|t| (t.signal, t.cutoff)).collect();
    assert_eq!(first.len(), 7);
    assert_eq!(first["traces"], NOW - 15 * DAY * S);
    assert!(r.advance().is_empty(), "the same clock emits nothing again");

    let short = Policy::resolve(&doc(r#"{"traces":"2d"}"#), &tiers).expect("valid");
    r.set_policy("p", Some(short));
    assert_eq!(r.advance(), [Tombstone { project: "p".into(), signal: "traces".into(), cutoff: NOW - 2 * DAY * S }]);

    r.set_policy("p", Some(Policy::defaults(&tiers)));
    r.tick(NOW + DAY * S);
    let later = r.advance();
    assert!(later.iter().all(|t| t.signal != "traces"), "lengthened: the traces cutoff waits: {later:?}");
    r.tick(NOW + 14 * DAY * S);
    let caught_up = r.advance();
    assert!(caught_up.iter().any(|t| t.signal == "traces" && t.cutoff == NOW - DAY * S), "{caught_up:?}");
}

/// Random policy changes, project deletions and clock moves: after every step, each
/// (project, signal)'s newest tombstone equals the largest cutoff any policy in force
/// gave at any clock since the project was last (re)created, worked out from scratch.
#[test]
fn tombstones_equal_a_recomputation_from_the_whole_history() {
    let seed: u64 = std::env::var("CLOUDGRID_TEST_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(rand::random);
    println!("seed {seed} (CLOUDGRID_TEST_SEED replays it)");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let tiers = Tiers::default();
    let keeps = ["1h", "6h", "1d", "2d", "15d", "60d", "400d"];
    for _ in 0..40 {
        let mut r = Retention::new(tiers.clone());
        // (project, policy in force or gone, clock) after each step.
        let mut history: Vec<(String, Option<Policy>, u64)> = Vec::new();
        let mut now = 0u64;
        let mut told: BTreeMap<(String, String), u64> = BTreeMap::new();
        for _ in 0..120 {
            let project = ["a", "b", "c"][rng.random_range(0..3)].to_string();
            match rng.random_range(0..10) {
                0 => {
                    r.set_policy(&project, None);
                    told.retain(|(p, _), _| *p != project);
                    history.push((project, None, now));
                }
                1..=4 => {
                    let mut d = PolicyDoc::default();
                    let pick = |rng: &mut rand::rngs::StdRng| keeps[rng.random_range(0..keeps.len())].to_string();
                    d.traces = rng.random_bool(0.7).then(|| pick(&mut rng));
                    d.logs = rng.random_bool(0.5).then(|| pick(&mut rng));
                    d.points = rng.random_bool(0.5).then(|| pick(&mut rng));
                    let mut ladder: Vec<&str> = (0..4).map(|_| keeps[rng.random_range(3..keeps.len())]).collect();
                    ladder.sort_by_key(|k| parse_duration(k).map(|d| d.as_secs()));
                    if rng.random_bool(0.5) {
                        d.tiers = ["1m", "5m", "1h", "1d"].iter().zip(ladder).map(|(t, k)| (t.to_string(), k.to_string())).collect();
                    }
                    let p = Policy::resolve(&d, &tiers).expect("generated policies are valid");
                    r.set_policy(&project, Some(p.clone()));
                    history.push((project, Some(p), now));
                }
                _ => {
                    now = now.max(NOW + rng.random_range(0..90 * DAY) * S);
                    // An earlier time is ignored.
                    r.tick(now - rng.random_range(0..DAY) * S);
                    r.tick(now);
                }
            }
            for t in r.advance() {
                let was = told.insert((t.project.clone(), t.signal.clone()), t.cutoff);
                assert!(was.is_none_or(|w| w < t.cutoff), "a tombstone moved back or was told again: {t:?}");
            }
            // From scratch: every step since the project's last deletion, at the clock
            // the evaluator had then (the largest so far).
            let mut expect: BTreeMap<(String, String), u64> = BTreeMap::new();
            let mut in_force: BTreeMap<String, Policy> = BTreeMap::new();
            let mut steps: Vec<(String, Policy, u64)> = Vec::new();
            for (p, policy, clock) in &history {
                // Evaluated at this clock under the policies before the change, then after.
                steps.extend(in_force.iter().map(|(q, pol)| (q.clone(), pol.clone(), *clock)));
                match policy {
                    Some(pol) => {
                        in_force.insert(p.clone(), pol.clone());
                    }
                    None => {
                        in_force.remove(p);
                        steps.retain(|(q, _, _)| q != p);
                    }
                }
                steps.extend(in_force.iter().map(|(q, pol)| (q.clone(), pol.clone(), *clock)));
            }
            for (q, pol) in &in_force {
                steps.push((q.clone(), pol.clone(), now));
            }
            for (q, pol, clock) in steps {
                if clock == 0 {
                    continue;
                }
                for (signal, keep, grain) in pol.signals(&tiers) {
                    let c = cutoff(keep, grain, clock);
                    if c > 0 {
                        let e = expect.entry((q.clone(), signal)).or_insert(0);
                        *e = (*e).max(c);
                    }
                }
            }
            assert_eq!(told, expect, "seed {seed}");
        }
    }
}
