//! Arrow batch building for lake rows and quarantine entries, and the
//! Parquet writers that stream them to disk.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{
    ArrayBuilder, ArrayRef, BooleanBuilder, Date32Builder, Decimal128Builder, Float64Builder,
    Int32Builder, Int64Builder, StringBuilder,
};
use arrow::datatypes::{DataType, SchemaRef};
use arrow::record_batch::RecordBatch;
use knooppunt_core::{Rule, quarantine_schema};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use crate::IngestError;
use crate::spec::Val;

/// Rows per Parquet row group and per Arrow batch.
pub(crate) const BATCH_ROWS: usize = 64 * 1024;

enum Builder {
    Str(StringBuilder),
    Int(Int32Builder),
    I64(Int64Builder),
    F64(Float64Builder),
    Date(Date32Builder),
    Bool(BooleanBuilder),
    Dec(Decimal128Builder, u8, i8),
}

impl Builder {
    fn new(dt: &DataType) -> Builder {
        match dt {
            DataType::Int32 => Builder::Int(Int32Builder::new()),
            DataType::Int64 => Builder::I64(Int64Builder::new()),
            DataType::Float64 => Builder::F64(Float64Builder::new()),
            DataType::Date32 => Builder::Date(Date32Builder::new()),
            DataType::Boolean => Builder::Bool(BooleanBuilder::new()),
            DataType::Decimal128(p, s) => Builder::Dec(Decimal128Builder::new(), *p, *s),
            _ => Builder::Str(StringBuilder::new()),
        }
    }

    fn append(&mut self, v: &Val) {
        match (self, v) {
            (Builder::Str(b), Val::Str(s)) => b.append_value(s),
            (Builder::Str(b), Val::Shared(s)) => b.append_value(&**s),
            (Builder::Int(b), Val::Int(i)) => b.append_value(*i),
            (Builder::I64(b), Val::I64(i)) => b.append_value(*i),
            (Builder::F64(b), Val::F64(f)) => b.append_value(*f),
            (Builder::Date(b), Val::Date(d)) => b.append_value(*d),
            (Builder::Bool(b), Val::Bool(x)) => b.append_value(*x),
            (Builder::Dec(b, ..), Val::Cents(c)) => b.append_value(*c),
            (b, _) => b.append_null(),
        }
    }

    fn append_null(&mut self) {
        match self {
            Builder::Str(b) => b.append_null(),
            Builder::Int(b) => b.append_null(),
            Builder::I64(b) => b.append_null(),
            Builder::F64(b) => b.append_null(),
            Builder::Date(b) => b.append_null(),
            Builder::Bool(b) => b.append_null(),
            Builder::Dec(b, ..) => b.append_null(),
        }
    }

    fn finish(&mut self) -> Result<ArrayRef, arrow::error::ArrowError> {
        Ok(match self {
            Builder::Str(b) => Arc::new(b.finish()),
            Builder::Int(b) => Arc::new(b.finish()),
            Builder::I64(b) => Arc::new(b.finish()),
            Builder::F64(b) => Arc::new(b.finish()),
            Builder::Date(b) => Arc::new(b.finish()),
            Builder::Bool(b) => Arc::new(b.finish()),
            Builder::Dec(b, p, s) => Arc::new(b.finish().with_precision_and_scale(*p, *s)?),
        })
    }

    fn len(&self) -> usize {
        match self {
            Builder::Str(b) => b.len(),
            Builder::Int(b) => b.len(),
            Builder::I64(b) => b.len(),
            Builder::F64(b) => b.len(),
            Builder::Date(b) => b.len(),
            Builder::Bool(b) => b.len(),
            Builder::Dec(b, ..) => b.len(),
        }
    }
}

/// Builds Arrow batches of one schema row by row.
pub(crate) struct BatchBuilder {
    schema: SchemaRef,
    builders: Vec<Builder>,
}

impl BatchBuilder {
    pub(crate) fn new(schema: SchemaRef) -> BatchBuilder {
        let builders = schema
            .fields()
            .iter()
            .map(|f| Builder::new(f.data_type()))
            .collect();
        BatchBuilder { schema, builders }
    }

    /// Appends one row (values in schema order).
    pub(crate) fn push(&mut self, row: &[Val]) {
        for (b, v) in self.builders.iter_mut().zip(row) {
            b.append(v);
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.builders.first().map_or(0, Builder::len)
    }

    /// The rows so far as a batch; the builder starts empty again.
    pub(crate) fn finish(&mut self) -> Result<RecordBatch, arrow::error::ArrowError> {
        let columns = self
            .builders
            .iter_mut()
            .map(Builder::finish)
            .collect::<Result<Vec<_>, _>>()?;
        RecordBatch::try_new(Arc::clone(&self.schema), columns)
    }
}

/// Streams rows or batches of one schema into one Parquet file.
pub(crate) struct ParquetSink {
    path: PathBuf,
    rows: BatchBuilder,
    writer: ArrowWriter<File>,
    written: u64,
}

impl ParquetSink {
    pub(crate) fn create(path: &Path, schema: SchemaRef) -> Result<ParquetSink, IngestError> {
        let file = File::create(path).map_err(IngestError::io(path))?;
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(
                ZstdLevel::try_new(1).map_err(IngestError::parquet(path))?,
            ))
            .set_max_row_group_row_count(Some(BATCH_ROWS * 4))
            .set_created_by(format!("knooppunt {}", env!("CARGO_PKG_VERSION")))
            .build();
        let writer = ArrowWriter::try_new(file, Arc::clone(&schema), Some(props))
            .map_err(IngestError::parquet(path))?;
        Ok(ParquetSink {
            path: path.to_path_buf(),
            rows: BatchBuilder::new(schema),
            writer,
            written: 0,
        })
    }

    /// Appends one row (values in schema order).
    pub(crate) fn push(&mut self, row: &[Val]) -> Result<(), IngestError> {
        self.rows.push(row);
        if self.rows.len() >= BATCH_ROWS {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes a complete batch (after any pushed rows).
    pub(crate) fn write(&mut self, batch: &RecordBatch) -> Result<(), IngestError> {
        self.flush()?;
        self.written += batch.num_rows() as u64;
        self.writer
            .write(batch)
            .map_err(IngestError::parquet(&self.path))
    }

    fn flush(&mut self) -> Result<(), IngestError> {
        if self.rows.len() == 0 {
            return Ok(());
        }
        let batch = self.rows.finish().map_err(|e| IngestError::Parquet {
            path: self.path.clone(),
            message: e.to_string(),
        })?;
        self.written += batch.num_rows() as u64;
        self.writer
            .write(&batch)
            .map_err(IngestError::parquet(&self.path))
    }

    /// Writes the footer and fsyncs the file; returns the rows written.
    pub(crate) fn close(mut self) -> Result<u64, IngestError> {
        self.flush()?;
        let file = self
            .writer
            .into_inner()
            .map_err(IngestError::parquet(&self.path))?;
        file.sync_all().map_err(IngestError::io(&self.path))?;
        Ok(self.written)
    }
}

/// Quarantine entries of one source: where and which rule, never a value.
pub(crate) struct QuarantineSink {
    sink: ParquetSink,
    source: String,
    file: String,
}

impl QuarantineSink {
    pub(crate) fn create(
        path: &Path,
        source: &str,
        file: &str,
    ) -> Result<QuarantineSink, IngestError> {
        Ok(QuarantineSink {
            sink: ParquetSink::create(path, quarantine_schema())?,
            source: source.into(),
            file: file.into(),
        })
    }

    pub(crate) fn push(
        &mut self,
        line: u64,
        column: Option<&str>,
        rule: Rule,
    ) -> Result<(), IngestError> {
        let row = [
            Val::Str(self.source.clone()),
            Val::Str(self.file.clone()),
            Val::I64(line as i64),
            column.map_or(Val::Null, |c| Val::Str(c.to_string())),
            Val::Str(rule.code().to_string()),
        ];
        self.sink.push(&row)
    }

    pub(crate) fn close(self) -> Result<u64, IngestError> {
        self.sink.close()
    }
}
