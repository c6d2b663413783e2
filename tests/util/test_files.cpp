// util: files written whole or not at all, and the log written once.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "util/atomic_file.hpp"
#include "util/error.hpp"
#include "util/input_file.hpp"
#include "util/json_text.hpp"
#include "util/log.hpp"

namespace fs = std::filesystem;

namespace {
std::string read_text(const std::string& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}
int files_in(const fs::path& dir) {
  return static_cast<int>(std::distance(fs::directory_iterator(dir), fs::directory_iterator{}));
}
}  // namespace

TEST_CASE("atomic file: replaces the old content whole and leaves no temporary", "[util]") {
  auto dir = fs::temp_directory_path() / ("hmb-atomic-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  auto path = (dir / "summary.json").string();
  hmb::write_file_atomic(path, "old");
  hmb::write_file_atomic(path, "new content");
  CHECK(read_text(path) == "new content");
  CHECK(files_in(dir) == 1);
  fs::remove_all(dir);
}

TEST_CASE("atomic file: a write that runs out of room says why and what to do, keeps the old file, leaves no temporary",
          "[util]") {
  auto dir = fs::temp_directory_path() / ("hmb-atomic-full-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const auto path = (dir / "summary.json").string();
  hmb::write_file_atomic(path, "old");
  // In a child process under a 16-byte file-size limit (this process's own limit is left alone):
  // exit 0 when the error named the limit, 1 when the write did not fail, 2 when it said something else.
  const pid_t pid = ::fork();
  if (pid == 0) {
    std::signal(SIGXFSZ, SIG_IGN);  // a write past the limit then fails with EFBIG
    const rlimit small{16, 16};
    ::setrlimit(RLIMIT_FSIZE, &small);
    try {
      hmb::write_file_atomic(path, std::string(100, 'x'));
    } catch (const hmb::Error& e) {
      const std::string what = e.what();
      ::_exit(what.find("summary.json") != std::string::npos && what.find("ulimit -f") != std::string::npos ? 0 : 2);
    }
    ::_exit(1);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(read_text(path) == "old");  // kept whole
  CHECK(files_in(dir) == 1);          // no temporary left
  fs::remove_all(dir);
}

TEST_CASE("atomic file: an unwritable folder is refused with its name", "[util]") {
  if (::geteuid() == 0) {
    // root writes anywhere; use a path under a regular file instead, which nobody can create
    auto f = fs::temp_directory_path() / ("hmb-notadir-" + std::to_string(::getpid()));
    std::ofstream(f) << "x";
    CHECK_THROWS_WITH(hmb::ensure_writable_dir((f / "results").string()),
                      Catch::Contains((f / "results").string()) && Catch::Contains("--results"));
    CHECK_THROWS_AS(hmb::write_file_atomic((f / "x.json").string(), "{}"), hmb::Error);
    // The workload's folder comes from -w/--resultsdir: the message names that option.
    CHECK_THROWS_WITH(hmb::ensure_writable_dir((f / "results").string(), "-w/--resultsdir"),
                      Catch::Contains("-w/--resultsdir") && !Catch::Contains("--results,"));
    fs::remove(f);
  } else {
    auto d = fs::temp_directory_path() / ("hmb-ro-" + std::to_string(::getpid()));
    fs::create_directories(d);
    ::chmod(d.c_str(), 0555);
    CHECK_THROWS_WITH(hmb::ensure_writable_dir(d.string()), Catch::Contains("not writable"));
    ::chmod(d.c_str(), 0755);
    fs::remove_all(d);
  }
}

TEST_CASE("results folder: another user's folder gets what is written there left removable by its owner",
          "[util]") {
  CHECK(hmb::umask_for_folder(1000, 1000, 022) == 022);
  CHECK(hmb::umask_for_folder(1000, 4242, 022) == 0);
  CHECK(hmb::umask_for_folder(1000, 0, 077) == 0);

  const mode_t before = ::umask(022);
  auto dir = fs::temp_directory_path() / ("hmb-owner-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  // One's own folder: the umask stays, and a subfolder is rwxr-xr-x.
  hmb::ensure_writable_dir(dir.string());
  fs::create_directories(dir / "own");
  CHECK((fs::status(dir / "own").permissions() & fs::perms::others_write) == fs::perms::none);
  if (::geteuid() == 0) {
    // A folder of uid 4242 (a host user's folder, as the container's root sees it).
    REQUIRE(::chown(dir.c_str(), 4242, 4242) == 0);
    hmb::ensure_writable_dir(dir.string());
    fs::create_directories(dir / "proc_0");
    CHECK((fs::status(dir / "proc_0").permissions() & fs::perms::others_write) == fs::perms::others_write);
    const mode_t now = ::umask(022);
    CHECK(now == 0);
  }
  ::umask(before);
  fs::remove_all(dir);
}

TEST_CASE("log: a log file that is already stderr gets no second sink (each line once)", "[util][log]") {
  auto path = (fs::temp_directory_path() / ("hmb-log-" + std::to_string(::getpid()) + ".log")).string();
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  REQUIRE(fd >= 0);
  CHECK(hmb::same_file(fd, path));
  const auto other = path + ".other";
  std::ofstream(other) << "";
  CHECK_FALSE(hmb::same_file(fd, other));
  // With stderr pointing at the file, as the workload starts its copies.
  const int saved = ::dup(STDERR_FILENO);
  ::dup2(fd, STDERR_FILENO);
  hmb::setup_logging(hmb::LogMode::normal);
  const bool added = hmb::add_log_file(path);
  spdlog::info("one line");
  spdlog::default_logger()->flush();
  ::dup2(saved, STDERR_FILENO);
  ::close(saved);
  ::close(fd);
  hmb::setup_logging(hmb::LogMode::normal);
  CHECK_FALSE(added);
  const std::string text = read_text(path);
  size_t count = 0;
  for (size_t at = text.find("one line"); at != std::string::npos; at = text.find("one line", at + 1)) ++count;
  CHECK(count == 1);
  fs::remove(path);
  fs::remove(other);
}

TEST_CASE("atomic file: a device or FIFO or folder at the path is refused and not replaced - a link keeps its target",
          "[util]") {
  auto dir = fs::temp_directory_path() / ("hmb-target-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  // A FIFO stands in for /dev/null: a rename over it would leave a plain file in its place.
  const auto fifo = dir / "pipe";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  CHECK_THROWS_WITH(hmb::write_file_atomic(fifo.string(), "x"),
                    Catch::Contains("'" + fifo.string() + "' is a FIFO") && Catch::Contains("would replace it"));
  CHECK(fs::is_fifo(fifo));
  CHECK_THROWS_WITH(hmb::output_target("/dev/null", "--output"),
                    Catch::Contains("option --output: '/dev/null' is a device") &&
                        Catch::Contains("choose another path with --output"));
  CHECK_THROWS_WITH(hmb::write_file_atomic(dir.string(), "x"), Catch::Contains("is a folder"));
  // A link to a file: the file behind it gets the new content, the link stays a link.
  const auto file = dir / "real.json", link = dir / "link.json";
  hmb::write_file_atomic(file.string(), "old");
  fs::create_symlink(file, link);
  hmb::write_file_atomic(link.string(), "new");
  CHECK(fs::is_symlink(link));
  CHECK(read_text(file.string()) == "new");
  // A link whose file does not exist yet (relative, as `ln -s` makes it): the file is made there.
  const auto dangling = dir / "dangling.json";
  fs::create_symlink("made.json", dangling);
  hmb::write_file_atomic(dangling.string(), "made");
  CHECK(fs::is_symlink(dangling));
  CHECK(fs::is_regular_file(dir / "made.json"));
  // A link to a FIFO is refused like the FIFO, naming both.
  const auto to_fifo = dir / "to_pipe";
  fs::create_symlink(fifo, to_fifo);
  CHECK_THROWS_WITH(hmb::output_target(to_fifo.string()), Catch::Contains("-> '" + fifo.string() + "'"));
  // A descriptor through /proc, as /dev/stdout is (its link reads "pipe:[…]", no path): what the
  // kernel finds there is refused (it said "cannot create" the made-up path, after "exists").
  int ends[2];
  REQUIRE(::pipe(ends) == 0);
  const std::string fd_link = "/proc/self/fd/" + std::to_string(ends[1]);
  CHECK_THROWS_WITH(hmb::output_target(fd_link, "--output"),
                    Catch::Contains("'" + fd_link + "' is a FIFO") && !Catch::Contains("pipe:["));
  ::close(ends[0]);
  ::close(ends[1]);
  // A missing folder is named before anything is written.
  CHECK_THROWS_WITH(hmb::output_target((dir / "no" / "x.h5").string(), "--output"),
                    Catch::Contains("does not exist") && Catch::Contains("--output"));
  CHECK(hmb::output_target((dir / "fresh.h5").string()) == (dir / "fresh.h5").string());
  fs::remove_all(dir);
}

TEST_CASE("folder lock: one holder at a time, across processes; the holder itself is not kept out", "[util]") {
  const auto dir = fs::temp_directory_path() / ("hmb-lock-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  int ready[2];
  REQUIRE(::pipe(ready) == 0);
  const pid_t holder = ::fork();
  if (holder == 0) {  // holds the lock until killed
    const hmb::FolderLock lock(dir.string(), "--results");
    (void)!::write(ready[1], "x", 1);
    ::pause();
    ::_exit(0);
  }
  char c = 0;
  REQUIRE(::read(ready[0], &c, 1) == 1);
  CHECK_THROWS_WITH(hmb::FolderLock(dir.string(), "--results"),
                    Catch::Contains(dir.string()) && Catch::Contains("in use by another hep-mlbench run") &&
                        Catch::Contains("--results"));
  CHECK(files_in(dir) == 0);  // nothing made there
  ::kill(holder, SIGKILL);
  ::waitpid(holder, nullptr, 0);
  // Exit status of a child process that tries to lock the folder: 0 kept out, 1 it locked it.
  // (With flock itself: a forked child shares this process's list of the folders it holds.)
  auto another_process_tries = [&] {
    const pid_t probe = ::fork();
    if (probe == 0) {
      const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
      ::_exit(fd >= 0 && ::flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK ? 0 : 1);
    }
    int status = 0;
    ::waitpid(probe, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  };
  hmb::FolderLock mine;
  CHECK_NOTHROW(mine = hmb::FolderLock(dir.string(), "--results"));  // released by the holder's end
  CHECK_NOTHROW(hmb::FolderLock(dir.string() + "/", "--results"));    // this process holds it already
  CHECK(another_process_tries() == 0);                                 // still held after that one ended
  mine = hmb::FolderLock();                                            // released by assignment
  CHECK(another_process_tries() == 1);
  ::close(ready[0]);
  ::close(ready[1]);
  fs::remove_all(dir);
}

TEST_CASE("json text: bytes that are not UTF-8 become U+FFFD instead of failing the write", "[util]") {
  const nlohmann::json j = {{"results", std::string("r_\xfe/x")}, {"n", 3}};
  CHECK_THROWS(j.dump());  // what writing a report used to do
  const std::string text = hmb::json_text(j, 2);
  const auto back = nlohmann::json::parse(text);
  CHECK(back["results"] == "r_\xef\xbf\xbd/x");  // U+FFFD in UTF-8
  CHECK(back["n"] == 3);
  CHECK(hmb::json_text(nlohmann::json{{"a", "plain"}}) == R"({"a":"plain"})");
}

TEST_CASE("input file: what is not a readable regular file is named as what it is", "[util]") {
  auto dir = fs::temp_directory_path() / ("hmb-input-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string file = (dir / "a.yaml").string(), fifo = (dir / "pipe").string(), link = (dir / "link").string();
  std::ofstream(file) << "x: 1\n";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  fs::create_symlink(dir / "gone", link);
  CHECK(hmb::input_file_problem(file).empty());
  CHECK(hmb::input_file_problem((dir / "missing").string()) == "does not exist");
  CHECK(hmb::input_file_problem(dir.string()) == "is a folder, not a file");
  CHECK(hmb::input_file_problem(fifo) == "is a FIFO (named pipe), not a file");
  CHECK(hmb::input_file_problem(fifo, /*pipe_ok=*/true).empty());  // a text read through, as --config <(...)
  CHECK(hmb::input_file_problem("/dev/null", /*pipe_ok=*/true) == "is a device, not a file");
  CHECK(hmb::input_file_problem("/dev/null") == "is a device, not a file");
  CHECK(hmb::input_file_problem(link) == "is a symbolic link to a file that does not exist");
  CHECK(hmb::input_file_problem("").rfind("is empty", 0) == 0);
  CHECK_THROWS_WITH(hmb::require_input_file(fifo, "configuration file", " (check --config)"),
                    "configuration file '" + fifo + "' is a FIFO (named pipe), not a file (check --config)");
  CHECK_NOTHROW(hmb::require_input_file(file, "configuration file"));
  fs::remove_all(dir);
}

TEST_CASE("log: a log file that cannot be opened is an Error naming it and what to do", "[util][log]") {
  auto dir = fs::temp_directory_path() / ("hmb-logdir-" + std::to_string(::getpid()));
  fs::create_directories(dir / "hep-mlbench.log");  // a folder where the log goes
  const std::string path = (dir / "hep-mlbench.log").string();
  hmb::setup_logging(hmb::LogMode::quiet);
  const auto sinks = spdlog::default_logger()->sinks().size();
  CHECK_THROWS_WITH(hmb::add_log_file(path), Catch::Contains("log file '" + path + "'") &&
                                                 Catch::Contains("it is a folder") && Catch::Contains("--results"));
  CHECK(spdlog::default_logger()->sinks().size() == sinks);  // nothing half-added
  hmb::setup_logging(hmb::LogMode::normal);
  fs::remove_all(dir);
}
