//! The inputs of a merge as the planner and the writer see them: a name
//! and bytes, with the file they were read from when there is one (to find
//! out whether it changed underneath).

use crate::Input;

/// One input: its name in messages and the report, and its bytes.
#[derive(Clone, Copy)]
pub(crate) struct Source<'d> {
    pub(crate) name: &'d str,
    data: &'d [u8],
    /// The opened file, for [`Input::check_unchanged`]; `None` for bytes
    /// given by the caller (borrowed, so they cannot change).
    file: Option<&'d Input>,
}

impl<'d> Source<'d> {
    /// An opened input file.
    pub(crate) fn file(name: &'d str, input: &'d Input) -> Self {
        Source {
            name,
            data: input,
            file: Some(input),
        }
    }

    /// The opened input files, named `names`.
    pub(crate) fn files(names: &'d [String], inputs: &'d [Input]) -> Vec<Self> {
        names
            .iter()
            .zip(inputs)
            .map(|(name, f)| Source::file(name, f))
            .collect()
    }

    /// Bytes given by the caller.
    pub(crate) fn bytes(name: &'d str, data: &'d [u8]) -> Self {
        Source {
            name,
            data,
            file: None,
        }
    }

    /// Fails when the file is no longer what was opened (bytes given by
    /// the caller never change).
    pub(crate) fn check_unchanged(&self) -> crate::Result<()> {
        self.file.map_or(Ok(()), Input::check_unchanged)
    }
}

impl std::ops::Deref for Source<'_> {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        self.data
    }
}
