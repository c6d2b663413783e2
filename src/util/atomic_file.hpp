#pragma once
// Write-then-rename: a reader (HEPscore, a person, the next run) sees either the old file or
// the complete new one, never a half-written file.
#include <string>

namespace hmb {

// Writes `content` to `path` atomically: a temporary file beside it, flushed to disk, then
// renamed over `path`. Throws Error naming the path and what to do when it cannot.
void write_file_atomic(const std::string& path, const std::string& content);

// Creates `dir` (and parents) if needed and checks that hep-mlbench can write there, by
// creating and removing a probe file. Throws Error naming the folder, and `option` (the one
// that chose it) as the way to choose another, otherwise.
void ensure_writable_dir(const std::string& dir, const std::string& option = "--results");

}  // namespace hmb
