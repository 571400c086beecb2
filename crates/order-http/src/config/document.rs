//! The variables as people read them: `--help`'s list and the README's table, both
//! rendered from the definition so that neither can drift from what the service reads.
//! The table is rendered by the test that checks the README against it.

use std::fmt::Write;

use super::environment::Variable;

/// The list `order-service --help` ends with: every variable, its default, its meaning
/// and what it accepts.
pub fn help(variables: &[Variable]) -> String {
    let mut help = String::from(
        "Configured from the environment; an empty variable counts as unset, and \
         `check-config` prints every effective value:\n",
    );
    for variable in variables {
        let meaning = variable.meaning.replace('`', "");
        // Writing to a String cannot fail.
        let _ = write!(
            help,
            "\n  {}={}\n      {meaning} [accepts {}]",
            variable.name, variable.default, variable.accepts
        );
    }
    help
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::config::environment::Shown;

    // Blank lines around the table keep Markdown renderers from taking a marker for a row.
    const BEGIN: &str = "<!-- begin: configuration table, rendered from Config::define -->\n\n";
    const END: &str = "\n<!-- end: configuration table -->";

    /// The README's configuration table, in Markdown.
    fn markdown_table(variables: &[Variable]) -> String {
        let mut table =
            String::from("| variable | meaning | accepts | default |\n|---|---|---|---|\n");
        for variable in variables {
            let default = match &variable.default {
                Shown::Value(value) => format!("`{value}`"),
                Shown::Unset(meaning) => format!("unset: {meaning}"),
            };
            let _ = writeln!(
                table,
                "| `{}` | {} | {} | {} |",
                variable.name,
                cell(variable.meaning),
                cell(&variable.accepts),
                cell(&default)
            );
        }
        table
    }

    /// `text` fit for a table cell, whose columns a `|` would split.
    fn cell(text: &str) -> String {
        text.replace('|', "\\|")
    }

    #[test]
    fn the_readme_table_is_the_definition() -> std::io::Result<()> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md");
        let readme = std::fs::read_to_string(path)?;
        let table = readme
            .split_once(BEGIN)
            .and_then(|(_, rest)| rest.split_once(END))
            .map(|(table, _)| table);
        let expected = markdown_table(&Config::variables());
        assert!(
            table == Some(&expected),
            "The README's configuration table is not the definition's. Between its lines \
             `<!-- begin: configuration table …` and `<!-- end: configuration table -->`, \
             after a blank line and before one, it should read:\n\n{expected}"
        );
        Ok(())
    }

    #[test]
    fn a_bar_in_a_cell_does_not_split_the_table() {
        assert_eq!(cell("json | text"), "json \\| text");
    }
}
