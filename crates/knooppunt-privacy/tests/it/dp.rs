//! Exact DP noise (`knooppunt_privacy::dp`): goodness of fit of the
//! samplers against the exact pmf, the power of that check, Rational
//! parsing, half-widths and thresholds against brute-force sums.

use knooppunt_privacy::dp::{
    self, Mechanism, NoiseRng, Rational, bernoulli, bernoulli_exp, discrete_gaussian,
    discrete_laplace, gaussian_half_width, gaussian_sigma2_at_least, laplace_half_width,
    laplace_scale, threshold_for_delta,
};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};

const SAMPLES: usize = 200_000;

fn r(text: &str) -> Rational {
    text.parse().expect("a valid rational in the test")
}

/// An exact pmf on −limit ..= limit (the mass beyond is below 1e−300),
/// computed from the definition: weights normalised by their sum.
struct Pmf {
    limit: i64,
    p: Vec<f64>,
}

impl Pmf {
    fn from_weight(limit: i64, weight: impl Fn(i64) -> f64) -> Pmf {
        let w: Vec<f64> = (-limit..=limit).map(&weight).collect();
        let z: f64 = w.iter().sum();
        Pmf {
            limit,
            p: w.into_iter().map(|x| x / z).collect(),
        }
    }

    fn laplace(scale: f64) -> Pmf {
        let limit = (700.0 * scale).ceil() as i64 + 1;
        Pmf::from_weight(limit, |x| (-(x.abs() as f64) / scale).exp())
    }

    fn gaussian(sigma2: f64) -> Pmf {
        let limit = (40.0 * sigma2.sqrt()).ceil() as i64 + 1;
        Pmf::from_weight(limit, |x| (-((x * x) as f64) / (2.0 * sigma2)).exp())
    }

    fn at(&self, x: i64) -> f64 {
        if x.abs() > self.limit {
            0.0
        } else {
            self.p[usize::try_from(x + self.limit).expect("in range")]
        }
    }

    fn moment(&self, k: i32) -> f64 {
        (-self.limit..=self.limit)
            .map(|x| (x as f64).powi(k) * self.at(x))
            .sum()
    }

    /// P(X > m).
    fn upper_tail(&self, m: i64) -> f64 {
        ((m + 1).max(-self.limit)..=self.limit)
            .rev()
            .map(|x| self.at(x))
            .sum()
    }
}

/// The q-quantile of chi-square with k degrees of freedom, by the
/// Wilson–Hilferty approximation: k · (1 − 2/(9k) + z_q √(2/(9k)))³.
fn chi2_quantile(k: usize, z_q: f64) -> f64 {
    let k = k as f64;
    let c = 2.0 / (9.0 * k);
    k * (1.0 - c + z_q * c.sqrt()).powi(3)
}

/// z for the 0.999 quantile of the standard normal.
const Z_0999: f64 = 3.090_232_306;

/// The outcome of comparing samples with a pmf.
#[derive(Debug)]
struct Fit {
    chi2: f64,
    bins: usize,
    critical: f64,
    mean: f64,
    mean_limit: f64,
    variance: f64,
    exact_variance: f64,
    variance_limit: f64,
}

impl Fit {
    fn chi2_ok(&self) -> bool {
        self.chi2 < self.critical
    }

    fn moments_ok(&self) -> bool {
        self.mean.abs() < self.mean_limit
            && (self.variance - self.exact_variance).abs() < self.variance_limit
    }
}

/// Chi-square goodness of fit of symmetric integer samples against `pmf`:
/// one bin per value in −m ..= m where m is the largest |x| whose expected
/// count is at least 5, and the two tails pooled (into the outermost bins
/// when a tail's own expectation is below 5). Plus mean and variance,
/// each against 5 standard errors.
fn fit(samples: &[i64], pmf: &Pmf) -> Fit {
    let n = samples.len() as f64;
    let mut m = 0;
    while n * pmf.at(m + 1) >= 5.0 {
        m += 1;
    }
    let tail = pmf.upper_tail(m);
    let pool_tails = n * tail < 5.0;
    // Bins: [left tail], −m ..= m, [right tail].
    let offset = if pool_tails { 0 } else { 1 };
    let bins = usize::try_from(2 * m + 1).expect("small") + 2 * offset;
    let mut expected = vec![0.0; bins];
    for x in -m..=m {
        expected[usize::try_from(x + m).expect("small") + offset] = n * pmf.at(x);
    }
    if pool_tails {
        expected[0] += n * tail;
        expected[bins - 1] += n * tail;
    } else {
        expected[0] = n * tail;
        expected[bins - 1] = n * tail;
    }
    let mut observed = vec![0u64; bins];
    for &x in samples {
        let bin = if x < -m {
            0
        } else if x > m {
            bins - 1
        } else {
            usize::try_from(x + m).expect("small") + offset
        };
        observed[bin] += 1;
    }
    let chi2 = observed
        .iter()
        .zip(&expected)
        .map(|(&o, &e)| (o as f64 - e).powi(2) / e)
        .sum();

    let mean = samples.iter().map(|&x| x as f64).sum::<f64>() / n;
    let variance = samples
        .iter()
        .map(|&x| (x as f64 - mean).powi(2))
        .sum::<f64>()
        / (n - 1.0);
    let exact_variance = pmf.moment(2);
    let fourth = pmf.moment(4);
    Fit {
        chi2,
        bins,
        critical: chi2_quantile(bins - 1, Z_0999),
        mean,
        mean_limit: 5.0 * (exact_variance / n).sqrt(),
        variance,
        exact_variance,
        variance_limit: 5.0 * ((fourth - exact_variance * exact_variance) / n).sqrt(),
    }
}

fn draw(seed: u64, mut sampler: impl FnMut(&mut ChaCha20Rng) -> i64) -> Vec<i64> {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    (0..SAMPLES).map(|_| sampler(&mut rng)).collect()
}

fn assert_fits(what: &str, samples: &[i64], pmf: &Pmf) {
    let fit = fit(samples, pmf);
    assert!(fit.bins >= 3, "{what}: too few bins: {fit:?}");
    assert!(fit.chi2_ok(), "{what}: chi-square too large: {fit:?}");
    assert!(fit.moments_ok(), "{what}: mean or variance off: {fit:?}");
}

fn check_laplace(scale: &str, seed: u64) {
    let scale = r(scale);
    let samples = draw(seed, |rng| discrete_laplace(scale, rng));
    assert_fits(
        &format!("Laplace {scale}"),
        &samples,
        &Pmf::laplace(scale.to_f64()),
    );
}

fn check_gaussian(sigma2: &str, seed: u64) {
    let sigma2 = r(sigma2);
    let samples = draw(seed, |rng| discrete_gaussian(sigma2, rng));
    assert_fits(
        &format!("Gaussian {sigma2}"),
        &samples,
        &Pmf::gaussian(sigma2.to_f64()),
    );
}

#[test]
fn laplace_scale_one_third_fits_exact_pmf() {
    check_laplace("1/3", 11);
}

#[test]
fn laplace_scale_one_fits_exact_pmf() {
    check_laplace("1", 12);
}

#[test]
fn laplace_scale_two_fits_exact_pmf() {
    check_laplace("2", 13);
}

#[test]
fn laplace_scale_seven_and_a_half_fits_exact_pmf() {
    check_laplace("15/2", 14);
}

#[test]
fn gaussian_sigma2_one_fits_exact_pmf() {
    check_gaussian("1", 21);
}

#[test]
fn gaussian_sigma2_four_fits_exact_pmf() {
    check_gaussian("4", 22);
}

#[test]
fn gaussian_sigma2_twelve_and_a_half_fits_exact_pmf() {
    check_gaussian("25/2", 23);
}

/// The same check has power: samples of scale 2 against the pmf of scale
/// 2.2, σ² 4 against σ² 4.4, and a sampler that is right except for a
/// 2 % surplus of zeros, all fail.
#[test]
fn goodness_of_fit_rejects_wrong_distributions() {
    let laplace = draw(31, |rng| discrete_laplace(r("2"), rng));
    let fit_laplace = fit(&laplace, &Pmf::laplace(2.2));
    assert!(
        !fit_laplace.chi2_ok(),
        "scale 2 passed as 2.2: {fit_laplace:?}"
    );
    assert!(
        !fit_laplace.moments_ok(),
        "scale 2 variance passed as 2.2: {fit_laplace:?}"
    );

    let gaussian = draw(32, |rng| discrete_gaussian(r("4"), rng));
    let fit_gaussian = fit(&gaussian, &Pmf::gaussian(4.4));
    assert!(
        !fit_gaussian.chi2_ok(),
        "sigma2 4 passed as 4.4: {fit_gaussian:?}"
    );

    // Replace 2 % of the draws by 0: the kind of bias a subtly broken
    // rejection step would leave.
    let mut rng = ChaCha20Rng::seed_from_u64(33);
    let zero_heavy: Vec<i64> = (0..SAMPLES)
        .map(|_| {
            let x = discrete_laplace(r("2"), &mut rng);
            if rng.next_u32() % 50 == 0 { 0 } else { x }
        })
        .collect();
    let fit_zero = fit(&zero_heavy, &Pmf::laplace(2.0));
    assert!(!fit_zero.chi2_ok(), "2 % extra zeros passed: {fit_zero:?}");

    // And the correct pmf accepts the correct samples (same draws).
    assert!(fit(&laplace, &Pmf::laplace(2.0)).chi2_ok());
}

fn binomial_ok(count: u64, draws: u64, p: f64) -> bool {
    let expected = draws as f64 * p;
    (count as f64 - expected).abs() < 5.0 * (expected * (1.0 - p)).sqrt()
}

#[test]
fn bernoulli_exp_matches_exp_minus_gamma() {
    let mut rng = ChaCha20Rng::seed_from_u64(41);
    let draws = 100_000u64;
    for gamma in ["1/10", "1/2", "1", "3/2", "2", "7/3", "5"] {
        let g = r(gamma);
        let hits = (0..draws).filter(|_| bernoulli_exp(g, &mut rng)).count() as u64;
        let p = (-g.to_f64()).exp();
        assert!(
            binomial_ok(hits, draws, p),
            "gamma {gamma}: {hits} of {draws}, p = {p}"
        );
    }
}

#[test]
fn bernoulli_matches_p() {
    let mut rng = ChaCha20Rng::seed_from_u64(42);
    let draws = 100_000u64;
    for p in ["1/3", "0.5", "1/1000", "999/1000"] {
        let q = r(p);
        let hits = (0..draws).filter(|_| bernoulli(q, &mut rng)).count() as u64;
        assert!(
            binomial_ok(hits, draws, q.to_f64()),
            "p {p}: {hits} of {draws}"
        );
    }
    assert!((0..100).all(|_| bernoulli(Rational::ONE, &mut rng)));
    assert!((0..100).all(|_| bernoulli(r("3/2"), &mut rng)));
}

#[test]
fn samplers_are_reproducible_with_a_seed_and_not_with_noise_rng() {
    let seeded = |seed| draw(seed, |rng| discrete_gaussian(r("25/2"), rng))[..50].to_vec();
    assert_eq!(seeded(5), seeded(5));
    assert_ne!(seeded(5), seeded(6));

    let mut a = NoiseRng::from_os().expect("OS randomness");
    let mut b = NoiseRng::from_os().expect("OS randomness");
    let xs: Vec<i64> = (0..50)
        .map(|_| discrete_laplace(r("100"), &mut a))
        .collect();
    let ys: Vec<i64> = (0..50)
        .map(|_| discrete_laplace(r("100"), &mut b))
        .collect();
    assert_ne!(xs, ys);
    assert_eq!(format!("{a:?}"), "NoiseRng { .. }");
}

#[test]
fn rational_parses_decimals_and_fractions() {
    let cases = [
        ("0.5", 1, 2),
        ("1/3", 1, 3),
        ("2/4", 1, 2),
        ("3", 3, 1),
        ("7.5", 15, 2),
        ("15/2", 15, 2),
        ("0.10", 1, 10),
        ("1.000", 1, 1),
        ("007", 7, 1),
        (" 1/3\n", 1, 3),
        ("0.000000000001", 1, 1_000_000_000_000),
        ("1099511627776", 1 << 40, 1),
        ("1099511627776/1099511627776", 1, 1),
        ("2199023255552/2", 1 << 40, 1),
    ];
    for (text, num, den) in cases {
        let x: Rational = text.parse().unwrap_or_else(|e| panic!("{text:?}: {e}"));
        assert_eq!((x.numer(), x.denom()), (num, den), "{text:?}");
    }
    assert_eq!(r("15/2").to_string(), "15/2");
    assert_eq!(r("3.0").to_string(), "3");
    assert_eq!(r(&r("1/3").to_string()), r("1/3"));
    assert!(r("1/3") < r("0.34") && r("0.5") == r("1/2") && r("2") > r("1999/1000"));
    assert_eq!(r("1/3").checked_add(r("1/6")).expect("in range"), r("1/2"));
    assert_eq!(r("2/3").checked_mul(r("3/4")).expect("in range"), r("1/2"));
    assert_eq!(r("1/2").checked_div(r("1/4")).expect("in range"), r("2"));
}

#[test]
fn rational_refuses_malformed_zero_and_out_of_range_text() {
    for text in [
        "",
        "  ",
        "0",
        "0.0",
        "0/5",
        "1/0",
        "-1",
        "+1",
        "-0.5",
        "1e3",
        "1.",
        ".5",
        "1/2/3",
        "1.5/2",
        "abc",
        "1,5",
        "1 / 3",
        "0x10",
        "NaN",
        "inf",
        "1099511627777",
        "1/1099511627777",
        "0.0000000000001",
        "99999999999999999999999",
        "99999999999999999999999999999999999999999999",
        "0.1234567890123456789012345678901234567890123",
        "½",
    ] {
        assert!(text.parse::<Rational>().is_err(), "{text:?} was accepted");
    }
    assert!(Rational::new(0, 1).is_err());
    assert!(Rational::new(1, 0).is_err());
    assert!(r("1099511627776").checked_mul(r("2")).is_err());
}

#[test]
fn rational_and_mechanism_serde_round_trip() {
    let json = serde_json::to_string(&r("15/2")).expect("serialise");
    assert_eq!(json, "\"15/2\"");
    assert_eq!(
        serde_json::from_str::<Rational>("\"7.5\"").expect("parse"),
        r("15/2")
    );
    assert!(serde_json::from_str::<Rational>("7.5").is_err());
    assert!(serde_json::from_str::<Rational>("\"0\"").is_err());

    let laplace = Mechanism::Laplace { scale: r("15/2") };
    let json = serde_json::to_string(&laplace).expect("serialise");
    assert_eq!(json, r#"{"kind":"laplace","scale":"15/2"}"#);
    assert_eq!(
        serde_json::from_str::<Mechanism>(&json).expect("parse"),
        laplace
    );
    let gaussian: Mechanism =
        serde_json::from_str(r#"{"kind":"gaussian","sigma2":"12.5"}"#).expect("parse");
    assert_eq!(gaussian, Mechanism::Gaussian { sigma2: r("25/2") });
    assert!(serde_json::from_str::<Mechanism>(r#"{"kind":"laplace","scale":"-1"}"#).is_err());
}

#[test]
fn calibration_is_exact() {
    assert_eq!(laplace_scale(1, r("0.5")).expect("scale"), r("2"));
    assert_eq!(laplace_scale(3, r("1/5")).expect("scale"), r("15"));
    assert!(laplace_scale(0, r("1")).is_err());
    // σ² = Δ² / (2ρ), given Δ².
    assert_eq!(
        gaussian_sigma2_at_least(1, r("1/25")).expect("sigma2"),
        r("25/2")
    );
    assert_eq!(
        gaussian_sigma2_at_least(4, r("0.5")).expect("sigma2"),
        r("4")
    );
}

/// Smallest h with P(|X| <= h) >= level, by summing the pmf outwards.
fn brute_half_width(pmf: &Pmf, level: f64) -> u64 {
    let mut mass = pmf.at(0);
    let mut h = 0;
    while mass < level {
        h += 1;
        mass += pmf.at(h) + pmf.at(-h);
    }
    u64::try_from(h).expect("non-negative")
}

#[test]
fn half_widths_match_brute_force_sums() {
    for level in [0.5, 0.8, 0.9, 0.95, 0.99, 0.999] {
        for scale in ["1/3", "1", "2", "15/2", "100"] {
            let s = r(scale);
            let expected = brute_half_width(&Pmf::laplace(s.to_f64()), level);
            assert_eq!(
                laplace_half_width(s, level),
                expected,
                "Laplace {scale} at {level}"
            );
            assert_eq!(Mechanism::Laplace { scale: s }.half_width(level), expected);
        }
        for sigma2 in ["1/4", "1", "4", "25/2", "100", "2500"] {
            let s = r(sigma2);
            let expected = brute_half_width(&Pmf::gaussian(s.to_f64()), level);
            assert_eq!(
                gaussian_half_width(s, level),
                expected,
                "Gaussian {sigma2} at {level}"
            );
        }
    }
    // Edge cases fail towards "no finite interval".
    assert_eq!(laplace_half_width(r("1"), 1.0), u64::MAX);
    assert_eq!(gaussian_half_width(r("1"), f64::NAN), u64::MAX);
    assert_eq!(laplace_half_width(r("1"), 0.0), 0);
    // A huge variance still answers quickly, near 1.96 σ.
    let wide = gaussian_half_width(r("1000000"), 0.95);
    assert!((1955..=1961).contains(&wide), "{wide}");
}

#[test]
fn threshold_for_delta_is_the_smallest_safe_threshold() {
    for scale in ["1/3", "1", "2", "15/2"] {
        let s = r(scale);
        let pmf = Pmf::laplace(s.to_f64());
        for sensitivity in [1u64, 3] {
            let mut previous = 0;
            for delta in [0.4, 0.1, 1e-2, 1e-3, 1e-5, 1e-6, 1e-9] {
                let tau = threshold_for_delta(s, sensitivity, delta);
                // Definition: a group with true count Δ is released (noisy
                // count > τ) with probability at most δ, and τ − 1 is not
                // enough.
                let released = |t: u64| pmf.upper_tail(t as i64 - sensitivity as i64);
                assert!(
                    released(tau) <= delta * (1.0 + 1e-9),
                    "{scale} {delta}: tau {tau}"
                );
                if tau > 0 {
                    assert!(
                        released(tau - 1) > delta,
                        "{scale} {delta}: tau {tau} not smallest"
                    );
                }
                assert!(tau >= previous, "not monotone in delta");
                previous = tau;
            }
        }
    }
    // Scale 1, Δ 1, δ 1e−6: ⌈ln(1e6) − ln(1 + 1/e)⌉ − 1 + 1 = 14.
    assert_eq!(threshold_for_delta(r("1"), 1, 1e-6), 14);
    // The sensitivity shifts the threshold one for one.
    assert_eq!(
        threshold_for_delta(r("15/2"), 5, 1e-6),
        threshold_for_delta(r("15/2"), 1, 1e-6) + 4
    );
    // Larger scale, larger threshold.
    assert!(threshold_for_delta(r("2"), 1, 1e-6) > threshold_for_delta(r("1"), 1, 1e-6));
    // Fail closed on nonsense.
    assert_eq!(threshold_for_delta(r("1"), 1, 0.0), u64::MAX);
    assert_eq!(threshold_for_delta(r("1"), 1, f64::NAN), u64::MAX);
    assert_eq!(threshold_for_delta(r("1"), 1, 1.0), 0);
}

#[test]
fn add_noise_and_describe() {
    let mut rng = ChaCha20Rng::seed_from_u64(51);
    let m = Mechanism::Laplace { scale: r("2") };
    let noisy: Vec<i64> = (0..1000)
        .map(|_| dp::add_noise(100, &m, &mut rng))
        .collect();
    assert!(noisy.iter().any(|&x| x != 100));
    assert!(noisy.iter().all(|&x| (40..=160).contains(&x)));
    // Saturates instead of overflowing.
    for _ in 0..100 {
        let x = dp::add_noise(i64::MAX, &m, &mut rng);
        assert!(x >= i64::MAX - 100);
        let y = dp::add_noise(i64::MIN, &m, &mut rng);
        assert!(y <= i64::MIN + 100);
    }
    assert_eq!(
        m.to_string(),
        format!(
            "discrete Laplace noise, scale 2; 95 % within ±{}",
            m.half_width(0.95)
        )
    );
    let g = Mechanism::Gaussian { sigma2: r("25/2") };
    assert!(
        g.to_string()
            .starts_with("discrete Gaussian noise, sigma^2 25/2; 95 % within ±")
    );
    assert!((g.variance() - Pmf::gaussian(12.5).moment(2)).abs() < 1e-9);
    assert!((m.variance() - Pmf::laplace(2.0).moment(2)).abs() < 1e-9);
}

/// The samplers terminate, quickly and plausibly, at the ends of the range
/// a Rational can hold (where the u128 arithmetic is tightest).
#[test]
fn extreme_parameters_terminate() {
    let mut rng = ChaCha20Rng::seed_from_u64(61);
    let huge = Rational::new(Rational::MAX_PART, 1).expect("in range");
    let tiny = huge.recip();
    let awkward = Rational::new(Rational::MAX_PART - 1, Rational::MAX_PART).expect("in range");
    for _ in 0..200 {
        assert_eq!(discrete_laplace(tiny, &mut rng), 0);
        assert_eq!(discrete_gaussian(tiny, &mut rng), 0);
        // σ = 2^20: beyond 40σ is impossible in practice.
        assert!(discrete_gaussian(huge, &mut rng).unsigned_abs() < 40 << 20);
        assert!(discrete_laplace(huge, &mut rng).unsigned_abs() < 60 << 40);
        assert!(discrete_gaussian(awkward, &mut rng).abs() < 10);
        assert!(!bernoulli_exp(huge, &mut rng));
    }
    assert!(threshold_for_delta(huge, 1, 1e-300) > 1 << 40);
    assert_eq!(threshold_for_delta(tiny, 7, 1e-300), 7);
    assert_eq!(laplace_half_width(tiny, 0.999_999), 0);
}
