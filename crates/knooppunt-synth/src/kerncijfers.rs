//! `kerncijfers_buurten.csv`: key figures per buurt, as CBS publishes them.
//!
//! Derived from the generated world at the peildatum: inhabitants (current
//! `W` registrations), households (addresses with at least one) and
//! dwellings (residential addresses). Plain UTF-8, never quirky; the file
//! is optional in the contract and never a denominator.

use knooppunt_core::{Rule, Source};

use crate::persons::Population;
use crate::world::World;
use crate::writer::{CsvSink, CsvStyle};
use crate::{Ctx, SourcePlan, SynthError};

const HEADER: [&str; 4] = ["buurtcode", "inwoners", "huishoudens", "woningen"];

/// Writes the key figures file.
pub(crate) fn generate(
    ctx: &Ctx,
    world: &World<'_>,
    population: &Population,
) -> Result<SourcePlan, SynthError> {
    let path = ctx.out.join(Source::Kerncijfers.file_name());
    let mut sink = CsvSink::create(&path, CsvStyle::CLEAN, &HEADER)?;
    let mut woningen = vec![0u64; world.buurten.len()];
    for &a in &world.residential {
        if let Some(b) = world.buurt_of(a) {
            woningen[b] += 1;
        }
    }
    for (b, buurt) in world.index.buurten().iter().enumerate() {
        sink.row(&[
            buurt.buurtcode.clone(),
            population.inwoners[b].to_string(),
            population.huishoudens[b].to_string(),
            woningen[b].to_string(),
        ])?;
    }
    let rows = sink.finish()?;
    Ok(SourcePlan {
        file: Source::Kerncijfers.file_name().to_owned(),
        rows,
        invalid: Rule::ALL.iter().map(|r| (r.code().to_owned(), 0)).collect(),
        unlinked: 0,
    })
}
