#include <catch2/catch.hpp>

#include <map>

#include "dist/launch.hpp"
#include "util/error.hpp"

using hmb::dist::detect_launch;

namespace {
hmb::dist::EnvLookup env(std::map<std::string, std::string> vars) {
  return [vars](const std::string& k) -> std::optional<std::string> {
    auto it = vars.find(k);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}
}  // namespace

TEST_CASE("launch: no launcher variables is one process", "[dist][launch]") {
  auto l = detect_launch(env({}));
  CHECK(l.launcher == "none");
  CHECK(l.world == 1);
  CHECK_FALSE(l.multi_rank());
  CHECK(l.rendezvous().empty());
  // A lone MASTER_ADDR does not make a job.
  CHECK(detect_launch(env({{"MASTER_ADDR", "node1"}, {"MASTER_PORT", "29500"}})).world == 1);
}

TEST_CASE("launch: torchrun's contract", "[dist][launch]") {
  auto l = detect_launch(env({{"RANK", "3"}, {"WORLD_SIZE", "8"}, {"LOCAL_RANK", "1"}, {"LOCAL_WORLD_SIZE", "2"},
                              {"MASTER_ADDR", "10.0.0.1"}, {"MASTER_PORT", "29500"}, {"TORCHELASTIC_RUN_ID", "x"}}));
  CHECK(l.launcher == "torchrun");
  CHECK(l.rank == 3);
  CHECK(l.world == 8);
  CHECK(l.local_rank == 1);
  CHECK(l.local_world == 2);
  CHECK(l.rendezvous() == "10.0.0.1:29500");
  CHECK(l.contract == "RANK WORLD_SIZE LOCAL_RANK LOCAL_WORLD_SIZE");
  CHECK_FALSE(l.agent_store);
  CHECK(detect_launch(env({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "a"}, {"MASTER_PORT", "1"},
                           {"TORCHELASTIC_RUN_ID", "x"}, {"TORCHELASTIC_USE_AGENT_STORE", "True"}}))
            .agent_store);
  // The same variables set by hand, and by hep-mlbench's own launcher.
  auto by_hand = detect_launch(env({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "h"}, {"MASTER_PORT", "1"}}));
  CHECK(by_hand.launcher == "env");
  CHECK(by_hand.local_world == 2);  // no local variables: all ranks on this node
  CHECK(by_hand.local_rank == 0);
  auto ours = detect_launch(env({{"RANK", "1"}, {"WORLD_SIZE", "2"}, {"HMB_LAUNCHER", "hep-mlbench"},
                                 {"HMB_RENDEZVOUS_FILE", "/tmp/x/store"}}));
  CHECK(ours.launcher == "hep-mlbench");
  CHECK(ours.rendezvous() == "file /tmp/x/store");
}

TEST_CASE("launch: Open MPI, PMI and Slurm contracts", "[dist][launch]") {
  auto ompi = detect_launch(env({{"OMPI_COMM_WORLD_RANK", "5"}, {"OMPI_COMM_WORLD_SIZE", "6"},
                                 {"OMPI_COMM_WORLD_LOCAL_RANK", "2"}, {"OMPI_COMM_WORLD_LOCAL_SIZE", "3"},
                                 {"MASTER_ADDR", "a"}, {"MASTER_PORT", "2"}}));
  CHECK(ompi.launcher == "openmpi");
  CHECK(ompi.rank == 5);
  CHECK(ompi.local_rank == 2);
  CHECK(ompi.local_world == 3);
  auto pmi = detect_launch(env({{"PMI_RANK", "1"}, {"PMI_SIZE", "4"}, {"HMB_RENDEZVOUS_FILE", "/shared/rdv"}}));
  CHECK(pmi.launcher == "pmi");
  CHECK(pmi.world == 4);
  auto slurm = detect_launch(env({{"SLURM_PROCID", "3"}, {"SLURM_STEP_NUM_TASKS", "4"}, {"SLURM_LOCALID", "1"},
                                  {"SLURM_STEP_TASKS_PER_NODE", "2(x2)"}, {"MASTER_ADDR", "n1"},
                                  {"MASTER_PORT", "29400"}}));
  CHECK(slurm.launcher == "slurm");
  CHECK(slurm.rank == 3);
  CHECK(slurm.local_rank == 1);
  CHECK(slurm.local_world == 2);
  CHECK(slurm.local_world_known);
  // A batch script (no srun step) is one process, even with SLURM_PROCID and SLURM_NTASKS set.
  CHECK(detect_launch(env({{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "4"}})).world == 1);
  // torchrun's variables win over the MPI ones they may sit beside.
  CHECK(detect_launch(env({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"OMPI_COMM_WORLD_RANK", "1"},
                           {"OMPI_COMM_WORLD_SIZE", "2"}, {"MASTER_ADDR", "a"}, {"MASTER_PORT", "3"}}))
            .launcher == "env");
}

TEST_CASE("launch: Slurm's local world is this node's count of the step's tasks", "[dist][launch]") {
  // Rank 6 of 7 on nodes holding 3, 3 and 1 tasks: local rank 0 of 1 on the third node.
  std::map<std::string, std::string> base{{"SLURM_PROCID", "6"}, {"SLURM_STEP_NUM_TASKS", "7"},
                                          {"SLURM_LOCALID", "0"}, {"MASTER_ADDR", "n1"}, {"MASTER_PORT", "29400"}};
  auto with = [&](std::map<std::string, std::string> extra) {
    auto vars = base;
    for (auto& [k, v] : extra) vars[k] = v;
    return detect_launch(env(vars));
  };
  auto last = with({{"SLURM_STEP_TASKS_PER_NODE", "3(x2),1"}, {"SLURM_NODEID", "2"}});
  CHECK(last.local_world == 1);
  CHECK(last.local_world_known);
  CHECK_THAT(last.contract, Catch::Contains("SLURM_STEP_TASKS_PER_NODE"));
  base["SLURM_PROCID"] = "4";
  base["SLURM_LOCALID"] = "1";
  CHECK(with({{"SLURM_STEP_TASKS_PER_NODE", "3(x2),1"}, {"SLURM_NODEID", "1"}}).local_world == 3);
  // The step's list wins over the job's.
  CHECK(with({{"SLURM_STEP_TASKS_PER_NODE", "3(x2),1"}, {"SLURM_TASKS_PER_NODE", "4,3"}, {"SLURM_NODEID", "1"}})
            .local_world == 3);
  // Only the job's list: indexed the same way.
  CHECK(with({{"SLURM_TASKS_PER_NODE", "4,2"}, {"SLURM_NODEID", "1"}}).local_world == 2);
  // No node id: a list of equal counts still answers, a mixed one does not.
  CHECK(with({{"SLURM_STEP_TASKS_PER_NODE", "2(x4)"}}).local_world == 2);
  CHECK(with({{"SLURM_NTASKS_PER_NODE", "4"}, {"SLURM_STEP_TASKS_PER_NODE", "3(x2),1"}}).local_world == 4);
  // A one-node step holds every task.
  auto one_node = with({{"SLURM_STEP_NUM_NODES", "1"}});
  CHECK(one_node.local_world == 7);
  CHECK(one_node.local_world_known);
  // A count that cannot hold this local rank is not this node's, and is not used.
  auto small = with({{"SLURM_STEP_TASKS_PER_NODE", "1(x7)"}});
  CHECK(small.local_world == 2);
  CHECK_FALSE(small.local_world_known);
  // A list that is not Slurm's form, or a node id or count that is no number, is an error naming it.
  for (const char* bad : {"3(x2", "3(y2)", "two", "3,,1", "", "0"}) {
    INFO(bad);
    CHECK_THROWS_WITH(with({{"SLURM_STEP_TASKS_PER_NODE", bad}}),
                      Catch::Contains("SLURM_STEP_TASKS_PER_NODE='" + std::string(bad) + "'") &&
                          Catch::Contains("tasks per node"));
    CHECK_THROWS_WITH(with({{"SLURM_TASKS_PER_NODE", bad}}), Catch::Contains("SLURM_TASKS_PER_NODE='"));
  }
  CHECK_THROWS_WITH(with({{"SLURM_STEP_TASKS_PER_NODE", "3(x2),1"}, {"SLURM_NODEID", "n2"}}),
                    Catch::Contains("SLURM_NODEID='n2'"));
  CHECK_THROWS_WITH(with({{"SLURM_NTASKS_PER_NODE", "4x"}}), Catch::Contains("SLURM_NTASKS_PER_NODE='4x'"));
  // Nothing at all: the local rank's lower bound, said to be one.
  auto unknown = with({});
  CHECK(unknown.local_world == 2);
  CHECK_FALSE(unknown.local_world_known);
  // Other contracts: a local rank without its count is a lower bound too; no local variables at
  // all means one node.
  CHECK_FALSE(detect_launch(env({{"PMI_RANK", "1"}, {"PMI_SIZE", "4"}, {"MPI_LOCALRANKID", "1"},
                                 {"HMB_RENDEZVOUS_FILE", "/shared/rdv"}}))
                  .local_world_known);
  CHECK(detect_launch(env({{"PMI_RANK", "1"}, {"PMI_SIZE", "4"}, {"HMB_RENDEZVOUS_FILE", "/shared/rdv"}}))
            .local_world_known);
}

TEST_CASE("launch: inconsistent variables are errors that name them", "[dist][launch]") {
  using Catch::Contains;
  CHECK_THROWS_WITH(detect_launch(env({{"RANK", "2"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "a"}, {"MASTER_PORT", "1"}})),
                    Contains("RANK=2") && Contains("WORLD_SIZE=2"));
  CHECK_THROWS_WITH(detect_launch(env({{"RANK", "x"}, {"WORLD_SIZE", "2"}})), Contains("RANK='x'"));
  CHECK_THROWS_WITH(detect_launch(env({{"RANK", "0"}, {"WORLD_SIZE", "2"}})),
                    Contains("MASTER_ADDR") && Contains("HMB_RENDEZVOUS_FILE"));
  CHECK_THROWS_WITH(detect_launch(env({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "a"}, {"MASTER_PORT", "70000"}})),
                    Contains("MASTER_PORT='70000' is not a TCP port"));
  CHECK_THROWS_WITH(detect_launch(env({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "a"}, {"MASTER_PORT", "abc"}})),
                    Contains("MASTER_PORT='abc' is not a TCP port"));
  CHECK_THROWS_WITH(detect_launch(env({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"LOCAL_RANK", "2"}, {"LOCAL_WORLD_SIZE", "2"},
                                       {"MASTER_ADDR", "a"}, {"MASTER_PORT", "1"}})),
                    Contains("local rank 2"));
  // A local rank or count past the job's ranks (it split one rank's threads as if for two).
  CHECK_THROWS_WITH(detect_launch(env({{"RANK", "0"}, {"WORLD_SIZE", "1"}, {"LOCAL_RANK", "1"}})),
                    Contains("local rank 1 does not fit a job of 1 rank(s)"));
  CHECK_THROWS_WITH(detect_launch(env({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"LOCAL_RANK", "0"}, {"LOCAL_WORLD_SIZE", "4"},
                                       {"MASTER_ADDR", "a"}, {"MASTER_PORT", "1"}})),
                    Contains("local rank 0 of 4 does not fit a job of 2 rank(s)"));
  CHECK_THROWS_WITH(detect_launch(env({{"SLURM_PROCID", "0"}, {"SLURM_STEP_NUM_TASKS", "1"}, {"SLURM_LOCALID", "3"}})),
                    Contains("local rank 3"));
}

TEST_CASE("launch: a job size without a rank is warned about, not taken silently as one process", "[dist][launch]") {
  const auto w = hmb::dist::lone_job_size_warning(env({{"WORLD_SIZE", "2"}}));
  REQUIRE(w);
  CHECK_THAT(*w, Catch::Contains("WORLD_SIZE=2 is set but RANK is not"));
  CHECK(detect_launch(env({{"WORLD_SIZE", "2"}})).world == 1);  // what the warning is about
  CHECK_FALSE(hmb::dist::lone_job_size_warning(env({{"WORLD_SIZE", "1"}})));
  CHECK_FALSE(hmb::dist::lone_job_size_warning(env({{"WORLD_SIZE", "2"}, {"RANK", "0"}})));
  CHECK_FALSE(hmb::dist::lone_job_size_warning(env({{"SLURM_STEP_NUM_TASKS", "4"}})));  // a batch script's own process
  CHECK_THAT(*hmb::dist::lone_job_size_warning(env({{"OMPI_COMM_WORLD_SIZE", "4"}})),
             Catch::Contains("OMPI_COMM_WORLD_RANK is not"));
}

TEST_CASE("launch: the environment of hep-mlbench's own ranks reads back as that rank", "[dist][launch]") {
  std::map<std::string, std::string> vars{{"MASTER_ADDR", "elsewhere"}, {"MASTER_PORT", "9"}};
  for (const auto& [k, v] : hmb::dist::child_environment(1, 3, "/tmp/r/store")) vars[k] = v;
  auto l = detect_launch(env(vars));
  CHECK(l.launcher == "hep-mlbench");
  CHECK(l.rank == 1);
  CHECK(l.world == 3);
  CHECK(l.local_rank == 1);
  CHECK(l.rendezvous() == "file /tmp/r/store");  // not the caller's TCP store
}

TEST_CASE("launch: several GPU ranks on a node with a small /dev/shm are warned about", "[dist][launch]") {
  using hmb::dist::kMinSharedMemoryBytes;
  using hmb::dist::shared_memory_warning;
  const long long docker_default = 64LL << 20;
  const auto w = shared_memory_warning(4, docker_default);
  REQUIRE(w.has_value());
  CHECK_THAT(*w, Catch::Contains("64 MiB") && Catch::Contains("4 GPU ranks") && Catch::Contains("--shm-size"));
  CHECK(shared_memory_warning(2, kMinSharedMemoryBytes - 1).has_value());
  CHECK_FALSE(shared_memory_warning(2, kMinSharedMemoryBytes).has_value());
  CHECK_FALSE(shared_memory_warning(1, docker_default).has_value());  // one rank: NCCL needs no peer transfer
  CHECK_FALSE(shared_memory_warning(8, -1).has_value());              // size unknown
  // The size read from a real file system: this machine's root has one; a missing path has none.
  CHECK(hmb::dist::file_system_bytes("/") > 0);
  CHECK(hmb::dist::file_system_bytes("/no/such/folder") == -1);
}

TEST_CASE("launch: one process ignores a meeting point it does not need", "[dist][launch]") {
  // A MASTER_PORT left in the environment by something else cannot stop a single-process run.
  const auto one = detect_launch(env({{"MASTER_ADDR", "a"}, {"MASTER_PORT", "abc"}, {"HMB_RENDEZVOUS_FILE", "/x"}}));
  CHECK(one.world == 1);
  CHECK(one.master_port == 0);
  CHECK(one.rendezvous_file.empty());
  CHECK(detect_launch(env({{"RANK", "0"}, {"WORLD_SIZE", "1"}, {"MASTER_PORT", "abc"}})).world == 1);
}

TEST_CASE("launch: each torchrun restart is an attempt of its own", "[dist][launch]") {
  std::map<std::string, std::string> vars{{"RANK", "1"},          {"WORLD_SIZE", "2"},
                                          {"MASTER_ADDR", "h"},   {"MASTER_PORT", "29400"},
                                          {"TORCHELASTIC_RUN_ID", "job"}, {"TORCHELASTIC_RESTART_COUNT", "2"}};
  CHECK(detect_launch(env(vars)).attempt == 2);
  vars.erase("TORCHELASTIC_RESTART_COUNT");
  CHECK(detect_launch(env(vars)).attempt == 0);
  vars["TORCHELASTIC_RESTART_COUNT"] = "x";
  CHECK_THROWS_WITH(detect_launch(env(vars)), Catch::Contains("TORCHELASTIC_RESTART_COUNT='x'"));
}

TEST_CASE("launch: rank 0 or a lone process reports a job that failed before meeting, even with bad variables",
          "[dist][launch]") {
  using hmb::dist::reports_for_job;
  CHECK(reports_for_job(env({})));
  CHECK(reports_for_job(env({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "a"}, {"MASTER_PORT", "1"}})));
  CHECK_FALSE(reports_for_job(env({{"RANK", "1"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "a"}, {"MASTER_PORT", "1"}})));
  // Variables that cannot be read: the raw rank decides.
  CHECK(reports_for_job(env({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "a"}, {"MASTER_PORT", "abc"}})));
  CHECK(reports_for_job(env({{"OMPI_COMM_WORLD_RANK", "0"}, {"OMPI_COMM_WORLD_SIZE", "2"}})));  // no meeting point
  CHECK_FALSE(reports_for_job(env({{"RANK", "2"}, {"WORLD_SIZE", "2"}})));
  CHECK_FALSE(reports_for_job(env({{"PMI_RANK", "3"}, {"PMI_SIZE", "x"}})));
  // A rank that is no number, or a job of one: no rank 0 is there to write it.
  CHECK(reports_for_job(env({{"RANK", "x"}, {"WORLD_SIZE", "2"}})));
  CHECK(reports_for_job(env({{"RANK", ""}, {"WORLD_SIZE", "2"}})));
  CHECK(reports_for_job(env({{"RANK", "1"}, {"WORLD_SIZE", "1"}})));
  CHECK(reports_for_job(env({{"SLURM_PROCID", "-1"}, {"SLURM_STEP_NUM_TASKS", "4"}})));
}

TEST_CASE("launch: a rank of hep-mlbench's own launcher is known as one, even with bad variables", "[dist][launch]") {
  using hmb::dist::started_by_own_launcher;
  std::map<std::string, std::string> vars;
  for (const auto& [k, v] : hmb::dist::child_environment(1, 2, "/tmp/rdv")) vars[k] = v;
  CHECK(started_by_own_launcher(env(vars)));
  CHECK(hmb::dist::detect_launch(env(vars)).launcher == "hep-mlbench");
  vars["WORLD_SIZE"] = "x";  // the launch cannot be read; who started it still can
  CHECK_THROWS(hmb::dist::detect_launch(env(vars)));
  CHECK(started_by_own_launcher(env(vars)));
  CHECK_FALSE(started_by_own_launcher(env({{"RANK", "1"}, {"WORLD_SIZE", "2"}})));
  CHECK_FALSE(started_by_own_launcher(env({{"HMB_LAUNCHER", "torchrun"}})));
}

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <unistd.h>

TEST_CASE("launch: torchrun is told why a rank failed, in the error file it names", "[dist][launch]") {
  namespace fs = std::filesystem;
  const auto dir = fs::temp_directory_path() / ("hmb-errfile-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const auto file = (dir / "error.json").string();
  ::unsetenv("TORCHELASTIC_ERROR_FILE");
  hmb::dist::tell_launcher("nothing asks for this");
  CHECK_FALSE(fs::exists(file));
  ::setenv("TORCHELASTIC_ERROR_FILE", file.c_str(), 1);
  hmb::dist::tell_launcher("dist: rank 1 did not come within 10 s");
  ::unsetenv("TORCHELASTIC_ERROR_FILE");
  REQUIRE(fs::exists(file));
  // The form torchrun reads for a message without a traceback: a string and a timestamp.
  const auto j = nlohmann::json::parse(std::ifstream(file));
  CHECK(j.at("message").get<std::string>() == "hep-mlbench: dist: rank 1 did not come within 10 s");
  CHECK(j.at("timestamp").get<long long>() > 1700000000);
  fs::remove_all(dir);
}
