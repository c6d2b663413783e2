// The single-process communicator is header-only; this file anchors the dist stage's library
// (the multi-rank implementations will live here).
#include "dist/communicator.hpp"
