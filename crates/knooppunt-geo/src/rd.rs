//! RD New (EPSG:28992) ⇄ WGS84 with the published approximation polynomials.
//!
//! Source: F.H. Schreutelkamp and G.L. Strang van Hees, "Benaderingsformules
//! voor de transformatie tussen RD- en WGS84-kaartcoördinaten", Stichting De
//! Koepel, 2001. Formula 6 with table 4 (RD → WGS84) and formula 7 with
//! table 5 (WGS84 → RD), around the reference point Amersfoort.
//!
//! The polynomials agree with the full RDNAPTRANS™ procedure to well under
//! a metre inside the Netherlands (see the tests), which is ample for
//! linking addresses to buurten and drawing maps. They are not a datum
//! transformation: outside the Netherlands the error grows quickly.

/// RD x of the reference point Amersfoort, in metres.
const X0: f64 = 155000.0;
/// RD y of the reference point Amersfoort, in metres.
const Y0: f64 = 463000.0;
/// WGS84 latitude of the reference point Amersfoort, in degrees.
const PHI0: f64 = 52.15517440;
/// WGS84 longitude of the reference point Amersfoort, in degrees.
const LAM0: f64 = 5.38720621;

// The coefficient tables are written exactly as printed in the paper.

/// Coefficients `(p, q, K_pq)` of the latitude polynomial in
/// `dX^p · dY^q`, with dX, dY in units of 100 km; the sum is in arc seconds.
const K: [(usize, usize, f64); 11] = [
    (0, 1, 3235.65389),
    (2, 0, -32.58297),
    (0, 2, -0.24750),
    (2, 1, -0.84978),
    (0, 3, -0.06550),
    (2, 2, -0.01709),
    (1, 0, -0.00738),
    (4, 0, 0.00530),
    (2, 3, -0.00039),
    (4, 1, 0.00033),
    (1, 1, -0.00012),
];

/// Coefficients `(p, q, L_pq)` of the longitude polynomial, as for [`K`].
const L: [(usize, usize, f64); 12] = [
    (1, 0, 5260.52916),
    (1, 1, 105.94684),
    (1, 2, 2.45656),
    (3, 0, -0.81885),
    (1, 3, 0.05594),
    (3, 1, -0.05607),
    (0, 1, 0.01199),
    (3, 2, -0.00256),
    (1, 4, 0.00128),
    (0, 2, 0.00022),
    (2, 0, -0.00022),
    (5, 0, 0.00026),
];

/// Coefficients `(p, q, R_pq)` of the RD x polynomial in `dφ^p · dλ^q`,
/// with dφ, dλ in units of 10,000 arc seconds; the sum is in metres.
const R: [(usize, usize, f64); 9] = [
    (0, 1, 190094.945),
    (1, 1, -11832.228),
    (2, 1, -114.221),
    (0, 3, -32.391),
    (1, 0, -0.705),
    (3, 1, -2.340),
    (1, 3, -0.608),
    (0, 2, -0.008),
    (2, 3, 0.148),
];

/// Coefficients `(p, q, S_pq)` of the RD y polynomial, as for [`R`].
const S: [(usize, usize, f64); 10] = [
    (1, 0, 309056.544),
    (0, 2, 3638.893),
    (2, 0, 73.077),
    (1, 2, -157.984),
    (3, 0, 59.788),
    (0, 1, 0.433),
    (2, 2, -6.439),
    (1, 1, -0.032),
    (0, 4, 0.092),
    (1, 4, -0.054),
];

/// Powers `a^0 ..= a^5`; no coefficient table goes beyond the fifth power.
fn powers(a: f64) -> [f64; 6] {
    let mut out = [1.0; 6];
    for i in 1..6 {
        out[i] = out[i - 1] * a;
    }
    out
}

/// Evaluates `Σ c · a^p · b^q` over a coefficient table.
fn poly(table: &[(usize, usize, f64)], a: &[f64; 6], b: &[f64; 6]) -> f64 {
    table.iter().map(|&(p, q, c)| c * a[p] * b[q]).sum()
}

/// Converts RD New coordinates (x, y in metres) to WGS84 `(lat, lon)` in
/// degrees.
///
/// Accurate to better than a metre across the Netherlands; the result is
/// meaningless far outside it.
pub fn rd_to_wgs84(x: f64, y: f64) -> (f64, f64) {
    let dx = powers((x - X0) * 1e-5);
    let dy = powers((y - Y0) * 1e-5);
    let lat = PHI0 + poly(&K, &dx, &dy) / 3600.0;
    let lon = LAM0 + poly(&L, &dx, &dy) / 3600.0;
    (lat, lon)
}

/// Converts WGS84 `(lat, lon)` in degrees to RD New `(x, y)` in metres.
///
/// The inverse of [`rd_to_wgs84`] to within millimetres inside the
/// Netherlands; accurate to better than a metre against RDNAPTRANS™.
pub fn wgs84_to_rd(lat: f64, lon: f64) -> (f64, f64) {
    let dphi = powers(0.36 * (lat - PHI0));
    let dlam = powers(0.36 * (lon - LAM0));
    let x = X0 + poly(&R, &dphi, &dlam);
    let y = Y0 + poly(&S, &dphi, &dlam);
    (x, y)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Horizontal distance in metres between two nearby WGS84 positions,
    /// using the local metres per degree (1e-5° of latitude ≈ 1.11 m).
    fn metres_apart(a: (f64, f64), b: (f64, f64)) -> f64 {
        const M_PER_DEG_LAT: f64 = 111_320.0;
        let m_per_deg_lon = M_PER_DEG_LAT * a.0.to_radians().cos();
        let dn = (a.0 - b.0) * M_PER_DEG_LAT;
        let de = (a.1 - b.1) * m_per_deg_lon;
        dn.hypot(de)
    }

    /// Reference points with independently published coordinates.
    ///
    /// - Amersfoort, Texel, Noord-Groningen, Zeeuws-Vlaanderen, Zuid-Limburg
    ///   and Maasvlakte: the RDNAPTRANS™2008 test sheet (Kadaster /
    ///   Rijkswaterstaat, "RDNAPTRANS™2008 test sheet", points 01-03 and
    ///   05-07; ETRS89, which agrees with WGS84 to well under a metre for
    ///   this purpose). The points marked outside the correction grid
    ///   (08-12) are left out.
    /// - Martinitoren Groningen: RD (233883.131, 582065.167),
    ///   53.219385 N 6.568206 E, the classic check point of the
    ///   "Benaderingsformules" (agrees to about 0.4 m).
    /// - Westertoren Amsterdam: RD (120700.723, 487525.501),
    ///   52.37453253 N 4.88352559 E.
    ///
    /// Each row is (name, x, y, lat, lon).
    const REFERENCE: [(&str, f64, f64, f64, f64); 9] = [
        (
            "Amersfoort",
            155_000.0,
            463_000.0,
            52.155_172_897,
            5.387_203_657,
        ),
        (
            "Texel",
            117_380.12,
            575_040.34,
            53.160_753_042,
            4.824_761_912,
        ),
        (
            "Noord-Groningen",
            247_380.56,
            604_580.78,
            53.419_482_050,
            6.776_726_674,
        ),
        (
            "Zeeuws-Vlaanderen",
            16_460.91,
            377_380.23,
            51.368_607_152,
            3.397_588_595,
        ),
        (
            "Zuid-Limburg",
            182_260.45,
            311_480.67,
            50.792_584_916,
            5.773_795_548,
        ),
        (
            "Maasvlakte",
            64_640.89,
            440_700.01,
            51.947_393_898,
            4.072_887_101,
        ),
        (
            "Martinitoren",
            233_883.131,
            582_065.167,
            53.219_385,
            6.568_206,
        ),
        (
            "Westertoren",
            120_700.723,
            487_525.501,
            52.374_532_53,
            4.883_525_59,
        ),
        // STACK.md pins Amersfoort at 5-decimal precision as well.
        (
            "Amersfoort (STACK.md)",
            155_000.0,
            463_000.0,
            52.15517,
            5.38720,
        ),
    ];

    #[test]
    fn amersfoort_is_the_reference_point() {
        let (lat, lon) = rd_to_wgs84(155_000.0, 463_000.0);
        assert!((lat - 52.15517).abs() < 1e-5, "lat {lat}");
        assert!((lon - 5.38720).abs() < 2e-5, "lon {lon}");
        let (x, y) = wgs84_to_rd(PHI0, LAM0);
        assert!((x - X0).abs() < 1e-9 && (y - Y0).abs() < 1e-9);
    }

    #[test]
    fn rd_to_wgs84_matches_reference_points_within_one_metre() {
        for (name, x, y, lat, lon) in REFERENCE {
            let got = rd_to_wgs84(x, y);
            let d = metres_apart(got, (lat, lon));
            assert!(d < 1.0, "{name}: {d:.3} m off ({got:?})");
        }
    }

    #[test]
    fn wgs84_to_rd_matches_reference_points_within_one_metre() {
        for (name, x, y, lat, lon) in REFERENCE {
            let (gx, gy) = wgs84_to_rd(lat, lon);
            let d = (gx - x).hypot(gy - y);
            assert!(d < 1.0, "{name}: {d:.3} m off ({gx}, {gy})");
        }
    }

    #[test]
    fn round_trip_over_the_netherlands_within_ten_centimetres() {
        let mut worst = 0.0_f64;
        for x in (13_000..=278_000).step_by(2_500) {
            for y in (306_000..=620_000).step_by(2_500) {
                let (x, y) = (f64::from(x), f64::from(y));
                let (lat, lon) = rd_to_wgs84(x, y);
                let (bx, by) = wgs84_to_rd(lat, lon);
                worst = worst.max((bx - x).hypot(by - y));
            }
        }
        assert!(worst < 0.1, "worst round trip error {worst} m");
    }
}
