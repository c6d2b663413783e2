#pragma once
// A small self-contained HTML page with SVG charts of a run (report.html in the results
// folder): the hardware-use figures, loss and accuracy per epoch, events/s and data wait per step.
#include <string>

#include "train/records.hpp"

namespace hmb::report {

std::string make_page(const train::RunResult& run);

}  // namespace hmb::report
