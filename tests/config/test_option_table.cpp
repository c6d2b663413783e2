#include <catch2/catch.hpp>

#include "config/option_table.hpp"

namespace {
struct Cfg {
  int batch_size = 10;
  std::uint64_t seed = 42;
  double lr = 1e-4;
  bool deterministic = true;
  std::string precision = "fp32";
};

hmb::config::OptionTable<Cfg> table() {
  hmb::config::OptionTable<Cfg> t;
  t.add("batch-size", &Cfg::batch_size, "events per step", "",
        std::function<std::string(const int&)>([](const int& v) {
          return v >= 1 ? std::string() : std::string("must be at least 1");
        }))
      .add("seed", &Cfg::seed, "seed")
      .add("lr", &Cfg::lr, "learning rate")
      .add("deterministic", &Cfg::deterministic, "deterministic algorithms")
      .add("precision", &Cfg::precision, "precision", "fp32|tf32|bf16|fp16");
  return t;
}

Cfg parse(hmb::config::OptionTable<Cfg>& t, std::vector<std::string> args,
          const std::optional<YAML::Node>& yaml = std::nullopt) {
  CLI::App app;
  Cfg cfg;
  t.attach(app, cfg);
  std::reverse(args.begin(), args.end());  // CLI11 takes the vector in reverse order
  app.parse(args);
  t.apply(cfg, yaml);
  return cfg;
}
}  // namespace

TEST_CASE("options: defaults, YAML and flags in that order of precedence", "[config]") {
  auto t = table();
  Cfg d = parse(t, {});
  CHECK(d.batch_size == 10);
  CHECK(d.precision == "fp32");

  auto t2 = table();
  YAML::Node y = YAML::Load("batch-size: 32\nprecision: bf16\nseed: 7\n");
  Cfg c = parse(t2, {"--batch-size", "64"}, y);
  CHECK(c.batch_size == 64);       // flag beats YAML
  CHECK(c.precision == "bf16");    // YAML beats default
  CHECK(c.seed == 7);

  auto t3 = table();
  Cfg e = parse(t3, {"--lr=0.001", "--deterministic", "false"});
  CHECK(e.lr == Approx(0.001));
  CHECK_FALSE(e.deterministic);
}

TEST_CASE("options: a boolean given alone means true (HEPscore's `key: true`)", "[config]") {
  Cfg off;
  off.deterministic = false;
  auto t = table();
  CLI::App app;
  t.attach(app, off);
  app.parse(std::vector<std::string>{"3", "--batch-size", "--deterministic"});  // reversed: --deterministic --batch-size 3
  Cfg c = off;
  t.apply(c);
  CHECK(c.deterministic);
  CHECK(c.batch_size == 3);
  CHECK(t.given_args() == std::vector<std::string>{"--batch-size", "3", "--deterministic", "true"});

  auto t2 = table();
  Cfg last = parse(t2, {"--deterministic", "False"});  // a value still counts, in any case
  CHECK_FALSE(last.deterministic);
  auto t3 = table();
  Cfg alone = parse(t3, {"--deterministic"});
  CHECK(alone.deterministic);
  auto t4 = table();
  CHECK_THROWS_WITH(parse(t4, {"--deterministic", "maybe"}), Catch::Contains("--deterministic"));
  auto t5 = table();
  CHECK_THROWS_AS(parse(t5, {"--batch-size"}), CLI::ParseError);  // only booleans may go without a value
}

TEST_CASE("options: bad values name the option and the value", "[config]") {
  auto t = table();
  CHECK_THROWS_WITH(parse(t, {"--batch-size", "abc"}), Catch::Contains("--batch-size") && Catch::Contains("'abc'"));
  auto t2 = table();
  CHECK_THROWS_WITH(parse(t2, {"--batch-size", "0"}), Catch::Contains("must be at least 1"));
  auto t3 = table();
  CHECK_THROWS_WITH(parse(t3, {"--precision", "fp8"}), Catch::Contains("fp32|tf32|bf16|fp16"));
  auto t4 = table();
  CHECK_THROWS_WITH(parse(t4, {"--seed", "-3"}), Catch::Contains("--seed"));
  auto t5 = table();
  CHECK_THROWS_WITH(parse(t5, {}, YAML::Load("batchsize: 3\n")), Catch::Contains("unknown option 'batchsize'"));
  auto t6 = table();
  CHECK_THROWS_AS(parse(t6, {"--lr", "nan"}), hmb::Error);
  // A key given twice, or without a value, in a YAML file.
  auto t7 = table();
  CHECK_THROWS_WITH(parse(t7, {}, YAML::Load("seed: 1\nseed: 2\n")), Catch::Contains("'seed' is given twice"));
  auto t8 = table();
  CHECK_THROWS_WITH(parse(t8, {}, YAML::Load("seed:\n")), Catch::Contains("'seed' has no value"));
}

TEST_CASE("options: an option where a value should be is a missing value, naming the option", "[config]") {
  // CLI11 would take the next word whatever it is: '--seed' would become the batch size.
  auto t = table();
  CHECK_THROWS_WITH(parse(t, {"--batch-size", "--seed", "3"}),
                    Catch::Contains("--batch-size") && Catch::Contains("needs a value") &&
                        Catch::Contains("'--seed', is an option"));
  auto t2 = table();
  CHECK_THROWS_WITH(parse(t2, {"--precision", "--lr=0.1"}), Catch::Contains("needs a value"));
  // A negative number or a word starting with '-' that is no option is a value like any other.
  auto t3 = table();
  CHECK_THROWS_WITH(parse(t3, {"--seed", "-3"}), !Catch::Contains("needs a value"));
  auto t4 = table();
  CHECK(parse(t4, {"--lr", "-0.5"}).lr == -0.5);
}

TEST_CASE("options: the echo round-trips through YAML", "[config]") {
  auto t = table();
  Cfg c = parse(t, {"--batch-size", "3", "--lr", "0.25", "--precision", "fp16"});
  std::string y = t.to_yaml(c);
  Cfg back;
  t.apply_yaml(back, YAML::Load(y));
  CHECK(back.batch_size == 3);
  CHECK(back.lr == 0.25);
  CHECK(back.precision == "fp16");
  auto j = t.to_json(c);
  CHECK(j["batch-size"] == 3);
  CHECK(j["precision"] == "fp16");
  CHECK(t.echo(c).size() == 5);
}
