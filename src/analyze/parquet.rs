//! One row per key as a Parquet file (the `parquet` feature): db, key (as
//! binary), type, encoding, elements, serialized_bytes, memory_bytes,
//! expire_ms (null without an expiry) and input (1-based), in row groups
//! of [`ROWS_PER_GROUP`] keys, so memory stays bounded on any dump.

use std::io::Write;
use std::sync::Arc;

use parquet::data_type::{ByteArray, ByteArrayType, Int32Type, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;

use super::KeyRow;

/// Keys per row group.
pub const ROWS_PER_GROUP: usize = 1 << 16;

const SCHEMA: &str = "message key {
  required int64 db;
  required binary key;
  required binary type (UTF8);
  required binary encoding (UTF8);
  required int64 elements;
  required int64 serialized_bytes;
  required int64 memory_bytes;
  optional int64 expire_ms;
  required int32 input;
}";

/// Writes key rows to a Parquet file.
///
/// ```
/// use rdbkit::analyze::{for_each_key, AnalyzeOptions, KeysParquet};
/// use rdbkit::memory::{Allocator, Model};
/// use rdbkit::release::ServerRelease;
/// let file = b"REDIS0010\xfe\x00\x00\x01a\xc0\x01\xff\0\0\0\0\0\0\0\0";
/// let model = Model::new(ServerRelease::parse("redis-7.0").unwrap(), Allocator::Jemalloc).unwrap();
/// let opts = AnalyzeOptions::new(model);
/// let mut pq = KeysParquet::new(Vec::new()).unwrap();
/// for_each_key(&file[..], 0, &opts, |row| pq.push(row)).unwrap();
/// let bytes = pq.finish().unwrap();
/// assert_eq!(&bytes[..4], b"PAR1");
/// ```
pub struct KeysParquet<W: Write + Send> {
    w: SerializedFileWriter<W>,
    rows: Vec<KeyRow<'static>>,
}

fn err(e: parquet::errors::ParquetError) -> crate::Error {
    crate::Error::io("the Parquet file", std::io::Error::other(e.to_string()))
}

fn i64c(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl<W: Write + Send> KeysParquet<W> {
    /// Starts the file.
    ///
    /// # Errors
    /// [`ErrorKind::Io`](crate::ErrorKind::Io) when `out` fails.
    pub fn new(out: W) -> crate::Result<Self> {
        let schema = Arc::new(parse_message_type(SCHEMA).map_err(err)?);
        let props = Arc::new(WriterProperties::builder().build());
        Ok(KeysParquet {
            w: SerializedFileWriter::new(out, schema, props).map_err(err)?,
            rows: Vec::with_capacity(1024),
        })
    }

    /// Adds a key (written with its row group).
    ///
    /// # Errors
    /// [`ErrorKind::Io`](crate::ErrorKind::Io) when writing a full row
    /// group fails.
    pub fn push(&mut self, row: &KeyRow<'_>) -> crate::Result<()> {
        self.rows.push(row.clone().into_owned());
        if self.rows.len() >= ROWS_PER_GROUP {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> crate::Result<()> {
        if self.rows.is_empty() {
            return Ok(());
        }
        let rows = std::mem::take(&mut self.rows);
        let mut rg = self.w.next_row_group().map_err(err)?;
        let mut col = 0;
        while let Some(mut c) = rg.next_column().map_err(err)? {
            let ints = |f: &dyn Fn(&KeyRow<'_>) -> i64| rows.iter().map(f).collect::<Vec<i64>>();
            let bytes =
                |f: &dyn Fn(&KeyRow<'_>) -> ByteArray| rows.iter().map(f).collect::<Vec<_>>();
            match col {
                0 => c
                    .typed::<Int64Type>()
                    .write_batch(&ints(&|r| i64c(r.db)), None, None),
                1 => c.typed::<ByteArrayType>().write_batch(
                    &bytes(&|r| ByteArray::from(r.key.to_vec())),
                    None,
                    None,
                ),
                2 => c.typed::<ByteArrayType>().write_batch(
                    &bytes(&|r| ByteArray::from(r.kind.name())),
                    None,
                    None,
                ),
                3 => c.typed::<ByteArrayType>().write_batch(
                    &bytes(&|r| ByteArray::from(r.encoding.name())),
                    None,
                    None,
                ),
                4 => c
                    .typed::<Int64Type>()
                    .write_batch(&ints(&|r| i64c(r.elements)), None, None),
                5 => c.typed::<Int64Type>().write_batch(
                    &ints(&|r| i64c(r.serialized_bytes)),
                    None,
                    None,
                ),
                6 => {
                    c.typed::<Int64Type>()
                        .write_batch(&ints(&|r| i64c(r.memory_bytes)), None, None)
                }
                7 => {
                    let values: Vec<i64> = rows.iter().filter_map(|r| r.expire_ms).collect();
                    let defs: Vec<i16> = rows
                        .iter()
                        .map(|r| i16::from(r.expire_ms.is_some()))
                        .collect();
                    c.typed::<Int64Type>()
                        .write_batch(&values, Some(&defs), None)
                }
                _ => {
                    let inputs: Vec<i32> = rows
                        .iter()
                        .map(|r| i32::try_from(r.input + 1).unwrap_or(i32::MAX))
                        .collect();
                    c.typed::<Int32Type>().write_batch(&inputs, None, None)
                }
            }
            .map_err(err)?;
            c.close().map_err(err)?;
            col += 1;
        }
        rg.close().map_err(err)?;
        Ok(())
    }

    /// Writes the last row group and the footer; returns the output.
    ///
    /// # Errors
    /// [`ErrorKind::Io`](crate::ErrorKind::Io) when `out` fails.
    pub fn finish(mut self) -> crate::Result<W> {
        self.flush()?;
        self.w.into_inner().map_err(err)
    }
}
