//! Integration tests of disclosure control: the attacker's LP audit,
//! differencing, repetition, formats. One test binary (GUIDE.md §8).

mod audit;
mod differencing;
mod dp;
mod release;
mod synth;
