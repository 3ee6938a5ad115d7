use super::*;
use crate::records::AttrValue;

fn series(id: u64, name: &str, service: &str, route: Option<&str>) -> SeriesMeta {
    SeriesMeta {
        project_id: "p".into(),
        series_id: id,
        name: name.into(),
        description: String::new(),
        unit: "ms".into(),
        kind: MetricKind::Gauge,
        temporality: Temporality::Unspecified,
        monotonic: false,
        resource: vec![("service.name".into(), AttrValue::Str(service.into()))],
        scope_name: String::new(),
        scope_version: String::new(),
        attributes: route.map(|r| vec![("route".into(), AttrValue::Str(r.into()))]).unwrap_or_default(),
    }
}

#[test]
fn staging_numbers_new_series_and_leaves_the_shard_alone_until_commit() {
    let mut shard = Shard::default();
    let a = series(u64::MAX, "latency", "api", Some("/a"));
    let b = series(7, "latency", "api", Some("/b"));
    let staged = shard.stage("p", 5, [&a, &b, &a]).expect("stage");
    assert_eq!(staged.assigned, vec![(u64::MAX, 5 << 26), (7, (5 << 26) | 1)], "the partition in the top bits");
    assert_eq!(shard, Shard::default(), "nothing applied before commit");
    // Staging again from the same state (a failed write) gives the same result.
    assert_eq!(shard.stage("p", 5, [&a, &b]).expect("stage"), staged);
    let lists: Vec<(&str, &str, u64, bool)> =
        staged.lists.iter().map(|((l, v), ids, new)| (l.as_str(), v.as_str(), ids.len(), *new)).collect();
    assert_eq!(
        lists,
        vec![("__name__", "latency", 2, true), ("route", "/a", 1, true), ("route", "/b", 1, true), ("service.name", "api", 2, true)]
    );
    shard.commit(staged);
    // Known series change nothing; a new one extends only the lists it is in.
    let c = series(9, "latency", "web", Some("/a"));
    let staged = shard.stage("p", 5, [&a, &c]).expect("stage");
    assert_eq!(staged.assigned, vec![(9, (5 << 26) | 2)]);
    let lists: Vec<(&str, &str, u64, bool)> =
        staged.lists.iter().map(|((l, v), ids, new)| (l.as_str(), v.as_str(), ids.len(), *new)).collect();
    assert_eq!(lists, vec![("__name__", "latency", 3, false), ("route", "/a", 2, false), ("service.name", "web", 1, true)]);
    shard.commit(staged);
    // What storage would hand back rebuilds the same shard, counter included.
    let reloaded = Shard::load(
        shard.ordinals.iter().map(|(s, o)| (*s, *o)),
        shard.postings.iter().map(|(p, ids)| (p.clone(), ids.clone())),
    );
    assert_eq!(reloaded, shard);
    assert!(shard.stage("p", 5, [&series(1, "x", "api", None)]).expect("stage").assigned == vec![(1, (5 << 26) | 3)]);
}

/// Four series over two shards: latency{api,/a} 1, latency{api,/b} 2, latency{web,/a} 3,
/// requests{api} 4 (no route).
fn four_series() -> Catalog {
    let metas = [
        series(1, "latency", "api", Some("/a")),
        series(2, "latency", "api", Some("/b")),
        series(3, "latency", "web", Some("/a")),
        series(4, "requests", "api", None),
    ];
    // Two shards, as two partitions' writers would have built them.
    let mut shards = [Shard::default(), Shard::default()];
    for (i, m) in metas.iter().enumerate() {
        let shard = &mut shards[i % 2];
        let staged = shard.stage("p", (i % 2) as u32, [m]).expect("stage");
        shard.commit(staged);
    }
    let info = |name: &str, kind| MetricInfo {
        name: name.into(),
        kind,
        temporality: Temporality::Unspecified,
        monotonic: false,
        unit: "ms".into(),
        description: String::new(),
    };
    Catalog::new(
        [info("latency", MetricKind::Gauge), info("requests", MetricKind::Sum)],
        shards.iter().flat_map(|s| s.postings.iter().map(|(p, ids)| (p.clone(), ids.clone()))),
        shards.iter().flat_map(|s| s.ordinals.iter().map(|(a, b)| (*a, *b))),
    )
}

#[test]
fn catalog_answers_names_labels_values_and_matches() {
    let catalog = four_series();
    let metrics: Vec<(&str, MetricKind, u64)> = catalog.metrics().into_iter().map(|(m, n)| (m.name.as_str(), m.kind, n)).collect();
    assert_eq!(metrics, vec![("latency", MetricKind::Gauge, 3), ("requests", MetricKind::Sum, 1)]);
    assert_eq!(catalog.label_names(None), vec![("route".into(), 2), ("service.name".into(), 2)]);
    assert_eq!(catalog.label_names(Some("requests")), vec![("service.name".into(), 1)]);
    assert_eq!(catalog.label_values("route", None), vec![("/a".into(), 2), ("/b".into(), 1)]);
    assert_eq!(catalog.label_values("service.name", Some("latency")), vec![("api".into(), 2), ("web".into(), 1)]);
    assert_eq!(catalog.select(Some("latency"), &[("route", "/a")]), vec![1, 3]);
    assert_eq!(catalog.select(None, &[("service.name", "api")]), vec![1, 2, 4]);
    assert_eq!(catalog.select(Some("latency"), &[("route", "/a"), ("service.name", "web")]), vec![3]);
    assert_eq!(catalog.select(Some("latency"), &[("route", "/nope")]), Vec::<u64>::new());
    assert_eq!(catalog.select(None, &[]), vec![1, 2, 3, 4]);
}

#[test]
fn selectors_match_like_prometheus_including_absent_labels() {
    let catalog = four_series();
    let m = |l: &str, op: &str, v: &str| Matcher::new(l, op, v).expect("matcher");
    let select = |metric, ms: &[Matcher]| catalog.select_matching(metric, ms);
    assert_eq!(select(Some("latency"), &[m("route", "=", "/a")]), vec![1, 3]);
    assert_eq!(select(Some("latency"), &[m("route", "!=", "/a")]), vec![2]);
    assert_eq!(select(None, &[m("route", "!=", "/a")]), vec![2, 4], "a series without the label is not /a");
    assert_eq!(select(None, &[m("route", "=", "")]), vec![4], "only series lacking the label");
    assert_eq!(select(None, &[m("route", "=~", "/a|/b")]), vec![1, 2, 3]);
    assert_eq!(select(None, &[m("route", "=~", "/.*")]), vec![1, 2, 3]);
    assert_eq!(select(None, &[m("route", "=~", "/a|")]), vec![1, 3, 4], "the empty alternative takes series lacking it");
    assert_eq!(select(None, &[m("route", "=~", "a")]), Vec::<u64>::new(), "anchored: a whole-value match");
    assert_eq!(select(Some("latency"), &[m("route", "!~", "/b"), m("service.name", "=~", "api|web")]), vec![1, 3]);
    assert_eq!(select(None, &[m("service.name", "!~", ".*")]), Vec::<u64>::new());
    assert_eq!(select(Some("nope"), &[]), Vec::<u64>::new());
    // Drill-down: the values of a label among what a selector picks, with cardinality.
    assert_eq!(
        catalog.label_values_matching("route", Some("latency"), &[m("service.name", "=", "api")]),
        vec![("/a".into(), 1), ("/b".into(), 1)]
    );
    assert_eq!(catalog.label_values_matching("service.name", None, &[m("route", "=~", "/a")]), vec![("api".into(), 1), ("web".into(), 1)]);
    assert!(Matcher::new("route", "=~", "(").is_err());
    assert!(Matcher::new("route", "==", "x").is_err());
}

#[test]
fn a_series_is_kept_in_the_hour_of_its_newest_point_only() {
    let h = |hours: u64| seen_hour(hours * SEEN_GRAIN_NS + 17);
    assert_eq!(h(490_000), 490_000);
    let mut shard = Shard::default();
    let staged = shard.stage_seen([(1, h(10)), (2, h(10)), (1, h(9))]);
    assert_eq!(staged.lists.keys().copied().collect::<Vec<_>>(), vec![10], "the newest point of a batch counts");
    assert_eq!(shard.stage_seen([(1, h(10)), (2, h(10))]), staged, "staged again from the same state: the same");
    shard.commit_seen(staged);
    assert_eq!(shard.last_seen(1), Some(10));
    assert_eq!(shard.stage_seen([(1, h(10)), (2, h(3))]), SeenStaged::default(), "late or same-hour points move nothing");
    // Series 1 moves on; its old hour keeps series 2 only.
    let staged = shard.stage_seen([(1, h(12)), (3, h(11))]);
    let lists: Vec<(u32, Vec<u32>)> = staged.lists.iter().map(|(h, ids)| (*h, ids.iter().collect())).collect();
    assert_eq!(lists, vec![(10, vec![2]), (11, vec![3]), (12, vec![1])]);
    shard.commit_seen(staged);
    // The last series of an hour leaves it: the list goes.
    let staged = shard.stage_seen([(2, h(12))]);
    assert!(staged.lists[&10].is_empty());
    shard.commit_seen(staged);
    assert_eq!(shard.seen.keys().copied().collect::<Vec<_>>(), vec![11, 12]);
    assert_eq!((shard.last_seen(2), shard.last_seen(3), shard.last_seen(4)), (Some(12), Some(11), None));
    // What storage hands back rebuilds the same lists.
    let reloaded = Shard::default().with_seen(shard.seen.iter().map(|(h, ids)| (*h, ids.clone())));
    assert_eq!(reloaded.seen, shard.seen);
}

#[test]
fn a_catalog_without_gone_series_lists_only_the_rest() {
    let catalog = four_series();
    let ordinal = |series: u64| catalog.series.iter().find(|(_, s)| **s == series).map(|(o, _)| *o);
    let gone: RoaringBitmap = [ordinal(2).expect("series 2"), ordinal(4).expect("series 4")].into_iter().collect();
    let rest = catalog.without(&gone);
    let metrics: Vec<(&str, u64)> = rest.metrics().into_iter().map(|(m, n)| (m.name.as_str(), n)).collect();
    assert_eq!(metrics, vec![("latency", 2)], "a metric whose series are all gone goes");
    assert_eq!(rest.select(None, &[]), vec![1, 3]);
    assert_eq!(rest.label_values("route", None), vec![("/a".into(), 2)], "a value only gone series had goes");
    assert_eq!(rest.label_names(None), vec![("route".into(), 1), ("service.name".into(), 2)]);
    assert!(!rest.contains(4) && rest.contains(1));
    assert_eq!(catalog.select(None, &[]), vec![1, 2, 3, 4], "the catalog itself is unchanged");
}
