//! The generated municipality: buurten with a character, hotspots, and one
//! compact record per address that the other sources draw from.
//!
//! Only addresses are held in memory (16 bytes each, plus two index lists);
//! every other source is streamed to its file. At national scale (scale
//! 100, 7.5 million addresses) that is about 150 MB.

use geo::{BoundingRect, Contains, Point};
use knooppunt_geo::BuurtIndex;

use crate::SynthError;
use crate::random::{self, Rand};

/// Addresses in a municipality of 150,000 inhabitants (scale 1).
pub(crate) const ADDRESSES_PER_SCALE: f64 = 75_000.0;

/// Share of addresses placed outside every buurt (unlinkable).
const OUTSIDE_SHARE: f64 = 0.002;

/// Minimum distance (metres) of a generated point from a buurt boundary,
/// so that rounding and the RD ⇄ WGS84 round trip cannot move it across.
const MARGIN: f64 = 1.0;

/// Sentinel buurt index of addresses outside every buurt.
pub(crate) const OUTSIDE: u32 = u32::MAX;

/// Address flag: `gebruiksdoel` contains `woonfunctie`.
pub(crate) const RESIDENTIAL: u8 = 1;
/// Address flag: planted overcrowded dwelling (small, many inhabitants).
pub(crate) const CROWDED: u8 = 2;

/// What a buurt mostly is; decides its mix of uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BuurtKind {
    /// Mostly dwellings.
    Residential,
    /// Dwellings, shops and offices.
    Mixed,
    /// Business park: offices and industry.
    Business,
}

/// Planning data of one buurt (same order as [`BuurtIndex::buurten`]).
#[derive(Debug, Clone)]
pub(crate) struct BuurtInfo {
    /// Character of the buurt.
    pub(crate) kind: BuurtKind,
    /// Whether this buurt is a planted hotspot.
    pub(crate) hotspot: bool,
    /// Planned number of addresses.
    pub(crate) target: u32,
    /// First address index of this buurt (addresses are contiguous per buurt).
    pub(crate) start: u32,
    /// Number of addresses generated in this buurt.
    pub(crate) len: u32,
    /// Bounding box `[minx, miny, maxx, maxy]` of the polygon (RD metres).
    pub(crate) rect: [f64; 4],
    /// Typical sale price per m² of floor area.
    pub(crate) price_m2: f64,
    /// The 4 digits of the gemeentecode (`GM0034` → `0034`).
    pub(crate) gm: String,
}

/// One generated address, compactly (16 bytes).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Addr {
    /// Postcode packed as `pc4 * 1000 + letter pair index`.
    pub(crate) postcode: u32,
    /// Buurt index, or [`OUTSIDE`].
    pub(crate) buurt: u32,
    /// House number.
    pub(crate) huisnummer: u16,
    /// Floor area in m².
    pub(crate) oppervlakte: u16,
    /// Huisletter as an ASCII letter, or 0.
    pub(crate) letter: u8,
    /// Index into [`crate::addresses::TOEVOEGINGEN`] plus one, or 0.
    pub(crate) toevoeging: u8,
    /// Index into [`crate::addresses::GEBRUIKSDOELEN`].
    pub(crate) doel: u8,
    /// [`RESIDENTIAL`], [`CROWDED`].
    pub(crate) flags: u8,
}

impl Addr {
    /// Whether `gebruiksdoel` contains `woonfunctie`.
    pub(crate) fn residential(&self) -> bool {
        self.flags & RESIDENTIAL != 0
    }

    /// Whether this is a planted overcrowded dwelling.
    pub(crate) fn crowded(&self) -> bool {
        self.flags & CROWDED != 0
    }
}

/// The generated municipality.
pub(crate) struct World<'a> {
    /// The buurt polygons.
    pub(crate) index: &'a BuurtIndex,
    /// Planning data per buurt.
    pub(crate) buurten: Vec<BuurtInfo>,
    /// Every valid BAG address, in file order; index + 1 is its sequence number.
    pub(crate) addrs: Vec<Addr>,
    /// Indexes of residential addresses.
    pub(crate) residential: Vec<u32>,
    /// Indexes of non-residential addresses.
    pub(crate) nonresidential: Vec<u32>,
    /// Indexes of the hotspot buurten.
    pub(crate) hotspots: Vec<usize>,
    /// Bounding box of all buurten `[minx, miny, maxx, maxy]`.
    pub(crate) bbox: [f64; 4],
    /// Gemeentecode digits used for identifiers not tied to a buurt.
    pub(crate) default_gm: String,
    /// Planned number of addresses outside every buurt.
    pub(crate) outside_target: u32,
    /// The run's scale.
    pub(crate) scale: f64,
}

fn gm_digits(gemeentecode: &str) -> String {
    let digits = gemeentecode.trim_start_matches("GM");
    if digits.len() == 4 && digits.bytes().all(|b| b.is_ascii_digit()) {
        digits.to_owned()
    } else {
        "0000".to_owned()
    }
}

/// Whether `(x, y)` and four points `MARGIN` away lie inside `geometry`.
fn inside_with_margin(geometry: &geo::MultiPolygon<f64>, x: f64, y: f64) -> bool {
    [
        (0.0, 0.0),
        (MARGIN, 0.0),
        (-MARGIN, 0.0),
        (0.0, MARGIN),
        (0.0, -MARGIN),
    ]
    .iter()
    .all(|(dx, dy)| geometry.contains(&Point::new(x + dx, y + dy)))
}

/// Rounds to millimetres, as the exports write coordinates.
pub(crate) fn round_mm(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

impl<'a> World<'a> {
    /// Plans the municipality: buurt characters, address counts, hotspots.
    pub(crate) fn plan(index: &'a BuurtIndex, scale: f64, seed: u64) -> Result<Self, SynthError> {
        let mut rng = random::stream(seed, random::streams::PLAN);
        let polygons = index.buurten();
        if polygons.is_empty() {
            return Err(SynthError::config("the buurten file has no buurten"));
        }
        let mut buurten = Vec::with_capacity(polygons.len());
        let mut weights = Vec::with_capacity(polygons.len());
        let mut bbox = [
            f64::INFINITY,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NEG_INFINITY,
        ];
        for b in polygons {
            let kind = random::weighted_value(
                &mut rng,
                &[
                    (BuurtKind::Residential, 0.80),
                    (BuurtKind::Mixed, 0.12),
                    (BuurtKind::Business, 0.08),
                ],
            );
            let rect = b
                .geometry
                .bounding_rect()
                .map_or([0.0; 4], |r| [r.min().x, r.min().y, r.max().x, r.max().y]);
            bbox = [
                bbox[0].min(rect[0]),
                bbox[1].min(rect[1]),
                bbox[2].max(rect[2]),
                bbox[3].max(rect[3]),
            ];
            let kind_factor = match kind {
                BuurtKind::Residential => 1.0,
                BuurtKind::Mixed => 0.9,
                BuurtKind::Business => 0.35,
            };
            weights.push(
                b.area_m2.max(0.0).powf(0.6) * kind_factor * random::uniform(&mut rng, 0.5, 1.5),
            );
            buurten.push(BuurtInfo {
                kind,
                hotspot: false,
                target: 0,
                start: 0,
                len: 0,
                rect,
                price_m2: random::uniform(&mut rng, 2600.0, 5200.0),
                gm: gm_digits(&b.gemeentecode),
            });
        }
        let default_gm = buurten[0].gm.clone();
        let mut world = World {
            index,
            buurten,
            addrs: Vec::new(),
            residential: Vec::new(),
            nonresidential: Vec::new(),
            hotspots: Vec::new(),
            bbox,
            default_gm,
            outside_target: 0,
            scale,
        };
        // A buurt too thin to hold a point away from its boundary gets no
        // addresses (the CBS layer has a few slivers).
        for (i, w) in weights.iter_mut().enumerate() {
            if world.sample_in(&mut rng, i, 2000).is_none() {
                *w = 0.0;
            }
        }
        let total = (ADDRESSES_PER_SCALE * scale).round().max(1.0) as u64;
        let targets = allocate(total, &weights);
        if targets.iter().all(|t| *t == 0) {
            return Err(SynthError::config("no buurt can hold an address"));
        }
        for (b, t) in world.buurten.iter_mut().zip(&targets) {
            b.target = *t;
        }
        world.outside_target = ((total as f64) * OUTSIDE_SHARE).round().max(1.0) as u32;
        world.choose_hotspots(&mut rng);
        Ok(world)
    }

    /// Picks 3–5 hotspots among the non-business buurten with at least the
    /// median number of addresses.
    fn choose_hotspots(&mut self, rng: &mut Rand) {
        let mut sorted: Vec<u32> = self.buurten.iter().map(|b| b.target).collect();
        sorted.sort_unstable();
        let median = sorted[sorted.len() / 2].max(1);
        let mut candidates: Vec<usize> = (0..self.buurten.len())
            .filter(|&i| {
                self.buurten[i].kind != BuurtKind::Business && self.buurten[i].target >= median
            })
            .collect();
        for i in (1..candidates.len()).rev() {
            let j = random::index(rng, i + 1);
            candidates.swap(i, j);
        }
        let k = (3 + random::index(rng, 3)).min(candidates.len());
        let mut hotspots = candidates[..k].to_vec();
        hotspots.sort_unstable();
        for &h in &hotspots {
            self.buurten[h].hotspot = true;
            self.buurten[h].price_m2 = random::uniform(rng, 2200.0, 3000.0);
        }
        self.hotspots = hotspots;
    }

    /// A point (rounded to mm) inside buurt `b`, at least `MARGIN` from its
    /// boundary, by rejection sampling in its bounding box.
    pub(crate) fn sample_in(&self, rng: &mut Rand, b: usize, tries: usize) -> Option<(f64, f64)> {
        let [x0, y0, x1, y1] = self.buurten[b].rect;
        for _ in 0..tries {
            let x = round_mm(random::uniform(rng, x0, x1));
            let y = round_mm(random::uniform(rng, y0, y1));
            if self.inside(b, x, y) {
                return Some((x, y));
            }
        }
        None
    }

    /// Whether `(x, y)` lies inside buurt `b`, away from its boundary.
    pub(crate) fn inside(&self, b: usize, x: f64, y: f64) -> bool {
        inside_with_margin(&self.index.buurten()[b].geometry, x, y)
    }

    /// A point (rounded to mm) well outside every buurt: east of the
    /// municipality's bounding box.
    pub(crate) fn sample_outside(&self, rng: &mut Rand) -> (f64, f64) {
        let [_, y0, x1, y1] = self.bbox;
        (
            round_mm(x1 + random::uniform(rng, 2_000.0, 5_000.0)),
            round_mm(random::uniform(rng, y0, y1.max(y0 + 1.0))),
        )
    }

    /// The gemeentecode digits for address `a`.
    fn gm_of(&self, a: u32) -> &str {
        match self.addrs.get(a as usize).map(|x| x.buurt) {
            Some(b) if b != OUTSIDE => &self.buurten[b as usize].gm,
            _ => &self.default_gm,
        }
    }

    /// The BAG identificatie of address `a`: gemeentecode, object type `01`,
    /// ten-digit sequence number.
    pub(crate) fn address_id(&self, a: u32) -> String {
        format!("{}01{:010}", self.gm_of(a), u64::from(a) + 1)
    }

    /// A well-formed identificatie that no generated address has
    /// (sequence numbers from 9,000,000,000 up; `k` distinguishes them).
    pub(crate) fn dangling_id(&self, k: u64) -> String {
        format!(
            "{}01{:010}",
            self.default_gm,
            9_000_000_000 + k % 1_000_000_000
        )
    }

    /// Whether address `a` lies in a hotspot buurt.
    pub(crate) fn is_hotspot(&self, a: u32) -> bool {
        self.buurt_of(a).is_some_and(|b| self.buurten[b].hotspot)
    }

    /// Buurt index of address `a` (None when outside every buurt).
    pub(crate) fn buurt_of(&self, a: u32) -> Option<usize> {
        match self.addrs.get(a as usize).map(|x| x.buurt) {
            Some(b) if b != OUTSIDE => Some(b as usize),
            _ => None,
        }
    }

    /// A uniformly chosen address (the world has at least one).
    pub(crate) fn any_address(&self, rng: &mut Rand) -> u32 {
        random::index(rng, self.addrs.len()) as u32
    }

    /// A uniformly chosen residential address, if there is one.
    pub(crate) fn any_residential(&self, rng: &mut Rand) -> Option<u32> {
        (!self.residential.is_empty()).then(|| *random::pick(rng, &self.residential))
    }

    /// A uniformly chosen non-residential address, if there is one.
    pub(crate) fn any_nonresidential(&self, rng: &mut Rand) -> Option<u32> {
        (!self.nonresidential.is_empty()).then(|| *random::pick(rng, &self.nonresidential))
    }

    /// A uniformly chosen address in buurt `b`, if it has any.
    pub(crate) fn address_in(&self, rng: &mut Rand, b: usize) -> Option<u32> {
        let info = &self.buurten[b];
        (info.len > 0).then(|| info.start + random::index(rng, info.len as usize) as u32)
    }

    /// An address in buurt `b` that is (`residential`) or is not a dwelling,
    /// if a few tries find one.
    pub(crate) fn address_in_with(
        &self,
        rng: &mut Rand,
        b: usize,
        residential: bool,
    ) -> Option<u32> {
        (0..40)
            .filter_map(|_| self.address_in(rng, b))
            .find(|&a| self.addrs[a as usize].residential() == residential)
    }

    /// An address in a random hotspot buurt, if there are hotspots.
    pub(crate) fn hotspot_address(&self, rng: &mut Rand) -> Option<u32> {
        if self.hotspots.is_empty() {
            return None;
        }
        let b = *random::pick(rng, &self.hotspots);
        self.address_in(rng, b)
    }
}

/// Splits `total` over `weights` proportionally (largest remainder).
fn allocate(total: u64, weights: &[f64]) -> Vec<u32> {
    let sum: f64 = weights.iter().sum();
    if sum <= 0.0 {
        return vec![0; weights.len()];
    }
    let exact: Vec<f64> = weights.iter().map(|w| total as f64 * w / sum).collect();
    let mut counts: Vec<u64> = exact.iter().map(|e| e.floor() as u64).collect();
    let assigned: u64 = counts.iter().sum();
    let mut order: Vec<usize> = (0..weights.len()).collect();
    // Stable sort on the fractional part, ties by index: deterministic.
    order.sort_by(|&a, &b| {
        let fa = exact[a] - exact[a].floor();
        let fb = exact[b] - exact[b].floor();
        fb.total_cmp(&fa).then(a.cmp(&b))
    });
    for &i in order.iter().take(total.saturating_sub(assigned) as usize) {
        counts[i] += 1;
    }
    counts
        .into_iter()
        .map(|c| c.min(u64::from(u32::MAX)) as u32)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocation_is_exact_and_proportional() {
        let c = allocate(10, &[1.0, 1.0, 2.0, 0.0]);
        assert_eq!(c.iter().sum::<u32>(), 10);
        assert_eq!(c[3], 0);
        assert!(c[2] >= 4);
        assert_eq!(allocate(5, &[0.0, 0.0]), vec![0, 0]);
    }

    #[test]
    fn gm_digits_fall_back() {
        assert_eq!(gm_digits("GM0034"), "0034");
        assert_eq!(gm_digits("GMxx"), "0000");
    }
}
