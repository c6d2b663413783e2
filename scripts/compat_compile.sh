#!/bin/sh
# Compiler launcher of scripts/libtorch_compat.sh: a compile check needs the compiler's verdict
# on every source file, not its object code. Each object is compiled with -fsyntax-only (parsing,
# template instantiation and every diagnostic, no optimisation or code generation: about 2.5x
# faster), and an empty file stands in for the object so that ninja sees its output. The
# precompiled header (a .gch output) is built for real: the other files use it.
#   CMAKE_CXX_COMPILER_LAUNCHER=scripts/compat_compile.sh   (set by libtorch_compat.sh)
out="" prev=""
for a in "$@"; do
  [ "$prev" = "-o" ] && out="$a"
  prev="$a"
done
case "$out" in
  "" | *.gch) exec "$@" ;;
esac
"$@" -fsyntax-only || exit $?
: >"$out"
