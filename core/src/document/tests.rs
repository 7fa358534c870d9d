//! Unit tests of the document's private helpers; its rules are specified through the
//! public API in `core/tests/document_spec.rs`.

use super::Position;

#[test]
fn positions_count_chars_and_all_line_terminators() {
    assert_eq!(Position::at("ab\r\ncd", 5), Position { line: 2, column: 2 });
    assert_eq!(Position::at("a\rb\nc", 4), Position { line: 3, column: 1 });
    assert_eq!(Position::at("éé x", 5), Position { line: 1, column: 4 });
}
