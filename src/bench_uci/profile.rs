//! Performance profiles and the accuracy table from `bench uci` rows (cvxnn's and peers').
//!
//! A problem is a (data set, lambda, model class) triple; methods are compared only with those
//! of the same class (`gated` or `relu`), whose objectives are the same function. A method
//! solves a problem at tolerance tau when its objective is within tau of the best objective any
//! method found: (f - f*) / |f*| <= tau, at the first point of its trace (the objective along
//! the solve, where the row has one) or else at its end. Its profile is the fraction of its
//! class's problems it solved within each time.

use super::csv::Row;
use crate::plot::{Chart, Panel, Series};
use std::collections::{BTreeMap, BTreeSet};

/// Problem key: data set, lambda (as written), model class.
type Key = (String, String, String);

fn key(r: &Row) -> Key {
    (
        r.dataset.clone(),
        format!("{:e}", r.lambda),
        r.model.clone(),
    )
}

/// Best objective per problem over every usable row.
fn best(rows: &[Row]) -> BTreeMap<Key, f64> {
    let mut best: BTreeMap<Key, f64> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.usable() && !r.model.is_empty()) {
        let b = best.entry(key(r)).or_insert(f64::INFINITY);
        *b = b.min(r.objective);
    }
    best
}

/// When a row's method first came within `tol` of the best objective `f`: the first point of
/// its trace that did, else its end if that did, else never.
fn solve_time(r: &Row, f: f64, tol: f64) -> Option<f64> {
    let within = |obj: f64| obj - f <= tol * f.abs().max(f64::MIN_POSITIVE);
    r.trace
        .iter()
        .find(|&&(_, obj)| within(obj))
        .map(|&(t, _)| t)
        .or_else(|| within(r.objective).then_some(r.time_s))
}

/// One method's profile at one tolerance: the sorted times of the problems it solved, and how
/// many problems its model class has.
#[derive(Debug, Clone, PartialEq)]
pub struct Curve {
    pub method: String,
    pub model: String,
    pub times: Vec<f64>,
    pub problems: usize,
}

impl Curve {
    /// Fraction of the class's problems solved within `t` seconds.
    pub fn solved_within(&self, t: f64) -> f64 {
        let k = self.times.iter().filter(|&&s| s <= t).count();
        k as f64 / self.problems.max(1) as f64
    }
}

/// The profiles of every method at tolerance `tol`, in the order methods first appear.
pub fn curves(rows: &[Row], tol: f64) -> Vec<Curve> {
    let best = best(rows);
    let mut class_size: BTreeMap<&str, usize> = BTreeMap::new();
    for k in best.keys() {
        *class_size.entry(k.2.as_str()).or_default() += 1;
    }
    let mut order: Vec<(String, String)> = Vec::new();
    for r in rows {
        let m = (r.method.clone(), r.model.clone());
        if !r.model.is_empty() && !order.contains(&m) {
            order.push(m);
        }
    }
    order
        .into_iter()
        .map(|(method, model)| {
            // One time per problem: a method with several rows for a problem (a peer's
            // step-size grid is written as its best run) keeps the first that solves it.
            let mut seen = BTreeSet::new();
            let mut times: Vec<f64> = rows
                .iter()
                .filter(|r| r.method == method && r.model == model && r.usable())
                .filter_map(|r| solve_time(r, best[&key(r)], tol).map(|t| (key(r), t)))
                .filter(|(k, _)| seen.insert(k.clone()))
                .map(|(_, t)| t.max(1e-6))
                .collect();
            times.sort_by(f64::total_cmp);
            Curve {
                problems: class_size.get(model.as_str()).copied().unwrap_or(0),
                method,
                model,
                times,
            }
        })
        .collect()
}

/// The profile chart: one panel per tolerance, time on a log axis, a dashed line at 50 %.
pub fn chart(rows: &[Row], tols: &[f64]) -> Chart {
    let all_times: Vec<f64> = rows
        .iter()
        .filter(|r| r.usable())
        .map(|r| r.time_s.max(1e-6))
        .collect();
    let lo = all_times.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = all_times.iter().copied().fold(0.0, f64::max);
    let (lo, hi) = if lo.is_finite() && hi > 0.0 {
        (lo, hi.max(lo * 10.0))
    } else {
        (1e-3, 1.0)
    };
    let panels = tols
        .iter()
        .map(|&tol| {
            let mut series: Vec<Series> = curves(rows, tol)
                .into_iter()
                .map(|c| {
                    // A step function: flat from one solve to the next, up at each.
                    let n = c.problems.max(1) as f64;
                    let (mut xs, mut ys) = (vec![lo], vec![0.0]);
                    for (k, &t) in c.times.iter().enumerate() {
                        xs.extend([t, t]);
                        ys.extend([k as f64 / n, (k + 1) as f64 / n]);
                    }
                    xs.push(hi);
                    ys.push(c.times.len() as f64 / n);
                    Series {
                        name: format!("{} ({})", c.method, c.model),
                        xs,
                        ys,
                        dashed: false,
                    }
                })
                .collect();
            series.push(Series {
                name: "50 %".into(),
                xs: vec![lo, hi],
                ys: vec![0.5, 0.5],
                dashed: true,
            });
            Panel {
                title: format!("tolerance {tol}"),
                x_label: "time (s)".into(),
                y_label: "fraction of problems solved".into(),
                log_x: true,
                log_y: false,
                series,
            }
        })
        .collect();
    Chart {
        panels,
        columns: tols.len().min(3),
    }
}

/// The headline: per method, the fraction solved within each of `within` seconds at `tol`.
pub fn headline(rows: &[Row], tol: f64, within: &[f64]) -> String {
    let mut s = format!("| method (tolerance {tol}) | problems |");
    for t in within {
        s.push_str(&format!(" solved within {t} s |"));
    }
    s.push_str("\n|---|---|");
    s.push_str(&"---|".repeat(within.len()));
    s.push('\n');
    for c in curves(rows, tol) {
        s.push_str(&format!("| {} ({}) | {} |", c.method, c.model, c.problems));
        for &t in within {
            s.push_str(&format!(" {:.0} % |", 100.0 * c.solved_within(t)));
        }
        s.push('\n');
    }
    s
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    Some(if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    })
}

/// The accuracy table: per data set and method, the test accuracy of the row with the best
/// validation accuracy (ties: the larger lambda), so the choice never sees the test rows; then
/// the medians over all sets and over the binary ones. Returns (Markdown, CSV).
pub fn accuracy_table(rows: &[Row]) -> (String, String) {
    let mut methods: Vec<String> = Vec::new();
    for r in rows {
        if !methods.contains(&r.method) {
            methods.push(r.method.clone());
        }
    }
    // Per data set: n, classes, and per method (validation, test accuracy, lambda) of its pick.
    type Picks = BTreeMap<String, (f64, f64, f64)>;
    let mut sets: BTreeMap<String, (usize, usize, Picks)> = BTreeMap::new();
    // Peers without an objective (random forests, SVMs) have accuracies all the same.
    for r in rows.iter().filter(|r| r.status != "Error") {
        let (Some(val), Some(test)) = (r.val_accuracy, r.test_accuracy) else {
            continue;
        };
        let e = sets
            .entry(r.dataset.clone())
            .or_insert((r.n, r.classes, BTreeMap::new()));
        let slot = e.2.entry(r.method.clone()).or_insert((-1.0, 0.0, 0.0));
        if val > slot.0 || (val == slot.0 && r.lambda > slot.2) {
            *slot = (val, test, r.lambda);
        }
    }
    let mut md = String::from("| data set | n | classes |");
    let mut csv = String::from("dataset,n,classes");
    for m in &methods {
        md.push_str(&format!(" {m} |"));
        csv.push_str(&format!(",{m}"));
    }
    md.push_str("\n|---|---|---|");
    md.push_str(&"---|".repeat(methods.len()));
    md.push('\n');
    csv.push('\n');
    let cell = |v: Option<f64>| v.map_or("-".to_string(), |a| format!("{a:.3}"));
    for (name, (n, classes, best)) in &sets {
        md.push_str(&format!("| {name} | {n} | {classes} |"));
        csv.push_str(&format!("{name},{n},{classes}"));
        for m in &methods {
            let a = best.get(m).map(|b| b.1);
            md.push_str(&format!(" {} |", cell(a)));
            csv.push_str(&format!(",{}", a.map_or(String::new(), |a| a.to_string())));
        }
        md.push('\n');
        csv.push('\n');
    }
    for (label, binary) in [("median, all sets", false), ("median, binary sets", true)] {
        let chosen: Vec<_> = sets
            .values()
            .filter(|(_, classes, _)| !binary || *classes == 2)
            .collect();
        md.push_str(&format!("| **{label}** ({}) | | |", chosen.len()));
        for m in &methods {
            let v: Vec<f64> = chosen
                .iter()
                .filter_map(|s| s.2.get(m))
                .map(|b| b.1)
                .collect();
            md.push_str(&format!(" {} |", cell(median(v))));
        }
        md.push('\n');
    }
    (md, csv)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(ds: &str, lam: f64, method: &str, model: &str, t: f64, obj: f64, val: f64) -> Row {
        Row {
            dataset: ds.into(),
            n: 10,
            classes: if ds == "a" { 2 } else { 3 },
            lambda: lam,
            method: method.into(),
            model: model.into(),
            time_s: t,
            objective: obj,
            val_accuracy: Some(val),
            test_accuracy: Some(val - 0.1),
            status: "Converged".into(),
            ..Row::default()
        }
    }

    #[test]
    fn profiles_compare_within_a_model_class() {
        let rows = vec![
            row("a", 1e-3, "gated", "gated", 1.0, 1.00, 0.9),
            row("a", 1e-3, "adam", "gated", 0.1, 1.30, 0.8),
            row("a", 1e-3, "relu-al", "relu", 2.0, 5.0, 0.7),
            row("b", 1e-3, "gated", "gated", 3.0, 2.0, 0.9),
            row("b", 1e-3, "adam", "gated", 0.5, 2.1, 0.8),
        ];
        let c = curves(&rows, 0.1);
        assert_eq!(c[0].method, "gated");
        assert_eq!((c[0].times.clone(), c[0].problems), (vec![1.0, 3.0], 2));
        assert_eq!(c[1].times, vec![0.5]); // 1.30 is 30 % above the best on "a"
        assert_eq!((c[2].times.clone(), c[2].problems), (vec![2.0], 1));
        assert_eq!(c[0].solved_within(1.0), 0.5);
        // With a trace, the time is when the method first came within the tolerance.
        let mut traced = rows.clone();
        traced[3].trace = vec![(0.2, 2.5), (0.7, 2.15), (3.0, 2.0)];
        let ct = curves(&traced, 0.1);
        assert_eq!(ct[0].times, vec![0.7, 1.0]);
        let c5 = curves(&rows, 0.5);
        assert_eq!(c5[1].times, vec![0.1, 0.5]);
        let ch = chart(&rows, &[1.0, 0.1]);
        assert_eq!(ch.panels.len(), 2);
        assert!(ch.panels[0].series.last().unwrap().dashed);
        let h = headline(&rows, 0.1, &[1.0, 10.0]);
        assert!(h.contains("| gated (gated) | 2 | 50 % | 100 % |"), "{h}");
    }

    #[test]
    fn accuracy_picks_lambda_by_validation_only() {
        let mut rows = vec![
            row("a", 1e-3, "gated", "gated", 1.0, 1.0, 0.7),
            row("a", 1e-2, "gated", "gated", 1.0, 1.0, 0.9),
            row("b", 1e-3, "gated", "gated", 1.0, 1.0, 0.8),
        ];
        // A higher test accuracy at a worse validation accuracy must not be chosen.
        rows[0].test_accuracy = Some(0.99);
        let (md, csv) = accuracy_table(&rows);
        assert!(csv.contains("a,10,2,0.8"), "{csv}");
        assert!(
            md.contains("median, binary sets** (1) | | | 0.800 |"),
            "{md}"
        );
        assert!(md.contains("median, all sets** (2) | | | 0.750 |"), "{md}");
    }
}
