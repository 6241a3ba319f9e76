// beaconctl: the operator's command line: create the ClickHouse schema, read a running
// beacond's counters, watch nodes live, check and set up a node, check a site registry, read
// the raw archive, list, retry and drop dead letters.
#include <arpa/inet.h>
#include <curl/curl.h>

#include <CLI/CLI.hpp>
#include <charconv>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "appliance/config.h"
#include "appliance/ctl/archive_replay.h"
#include "appliance/ctl/archive_tool.h"
#include "appliance/ctl/dead_letter_tool.h"
#include "appliance/ctl/http_get.h"
#include "appliance/ctl/node_checks.h"
#include "appliance/ctl/top.h"
#include "host/archive/file_system.h"
#include "host/forward/clickhouse_client.h"
#include "host/forward/schema.h"
#include "host/forward/schema_setup.h"
#include "kernels/site_registry.h"

namespace beacon::app {
namespace {

// Applies the schema to every server of `shards` (host::ApplySchema), or prints it.
int Schema(const host::ClickHouseEndpoint& endpoint,
           const std::vector<std::vector<std::string>>& shards, const host::SchemaOptions& options,
           bool print_only) {
  if (print_only) {
    for (const auto& sql : host::SchemaStatements(options)) std::printf("%s;\n\n", sql.c_str());
    return 0;
  }
  return host::ApplySchema(endpoint, shards, options) ? 0 : 1;
}

// Prints the counters of a Prometheus scrape: one line per sample, zero samples left out
// unless `all`.
int Stats(const std::string& url, bool all, const std::string& token) {
  std::istringstream text(HttpGet(url, 5000, token));
  std::string line;
  std::map<std::string, std::string> samples;
  while (std::getline(text, line)) {
    if (line.empty() || line[0] == '#') continue;
    const size_t space = line.rfind(' ');
    if (space == std::string::npos) continue;
    const std::string value = line.substr(space + 1);
    if (!all && (value == "0" || value == "0.0")) continue;
    samples[line.substr(0, space)] = value;
  }
  size_t width = 0;
  for (const auto& [name, value] : samples) width = std::max(width, name.size());
  for (const auto& [name, value] : samples) {
    std::printf("%-*s %s\n", static_cast<int>(width), name.c_str(), value.c_str());
  }
  return 0;
}

// doctor: the checks. setup: the same and what --apply would fix; with `apply`, the fixes and
// the checks again.
int Doctor(const std::string& config_path, bool setup, bool apply) {
  Config config;
  try {
    config = LoadConfig(config_path);
  } catch (const std::exception& e) {
    std::printf(
        "ERROR    config: %s\n         fix: correct the file; beacond --check validates it\n",
        e.what());
    return 1;
  }
  const NodeEnvironment env;
  const auto findings = CheckNode(config, env);
  if (!apply) {
    const int status = PrintFindings(findings);
    const int fixes = ApplicableFixes(findings);
    if (setup && fixes > 0) std::printf("setup --apply would carry out %d fix(es)\n", fixes);
    return status;
  }
  ApplyFixes(findings);
  std::printf("\nafter the fixes:\n");
  return PrintFindings(CheckNode(config, env));
}

// host:port in a URL for the management listener at `address`: a wildcard is reached on this
// machine's loopback, an IPv6 address goes in brackets (RFC 3986).
std::string LocalAuthority(std::string address, uint16_t port) {
  if (address == "0.0.0.0") address = "127.0.0.1";
  in6_addr v6{};
  if (inet_pton(AF_INET6, address.c_str(), &v6) == 1) {
    address = "[" + (IN6_IS_ADDR_UNSPECIFIED(&v6) ? std::string("::1") : address) + "]";
  }
  return address + ":" + std::to_string(port);
}

// POST /reload to a running beacond: its answer on stdout; 0 when it applied the reload.
// `config_path` (optional) gives the management address and token unless they are given.
int Reload(const std::string& config_path, std::string management, std::string token) {
  if (!config_path.empty()) {
    const Config config = LoadConfig(config_path);
    if (management.empty()) {
      management = LocalAuthority(config.management.address, config.management.port);
    }
    if (token.empty()) token = config.management_token;
  }
  if (management.empty()) management = "127.0.0.1:9464";
  // Loading changed user-agent patterns takes seconds.
  const HttpAnswer answer = HttpPost("http://" + management + "/reload", token, 120'000);
  std::fputs(answer.body.c_str(), answer.status == 200 ? stdout : stderr);
  if (answer.status == 200) return 0;
  if (answer.status != 422) std::fprintf(stderr, "beaconctl reload: HTTP %ld\n", answer.status);
  return 1;
}

int CheckSites(const std::string& path) {
  const auto registry = kernels::SiteRegistry::Load(path);
  size_t ids = 0;
  size_t open_hosts = 0;
  for (const auto& site : registry.sites()) {
    ids += site.tracking_ids.size();
    if (site.hostnames.empty()) ++open_hosts;
  }
  std::printf("%s: %zu sites, %zu tracking ids, %zu sites accepting any host\n", path.c_str(),
              registry.size(), ids, open_hosts);
  return 0;
}

// The archive subcommands that ran (one of them); `out_path` empty: stdout.
struct ArchiveCommand {
  std::string dir;
  std::string worker, from, to;
  std::string out_path;
  std::string format = "ndjson";
  size_t capacity = 112'640;
  size_t max_records = 100'000;
  std::string config_path;
  std::vector<uint32_t> sites;
  int threads = 1;
};

// archive replay: --from and --to are required, --dir defaults to the config's archive.
int RunArchiveReplay(const ArchiveCommand& command) {
  ArchiveReplayOptions options;
  options.config_path = command.config_path;
  options.dir = command.dir;
  options.sites = command.sites;
  options.threads = command.threads;
  if (!ParseArchiveTime(command.from, &options.from_ms) ||
      !ParseArchiveTime(command.to, &options.to_ms)) {
    std::fprintf(stderr, "beaconctl archive replay: not a time: %s / %s\n", command.from.c_str(),
                 command.to.c_str());
    return 2;
  }
  return ArchiveReplay(options, std::cout, std::cerr);
}

int RunArchive(const CLI::App& archive, const ArchiveCommand& command) {
  host::PosixFileSystem fs;
  ArchiveFilter filter;
  if (!command.worker.empty()) {
    // Whole digits within a worker id: 1.5 or 2^32 + 1 would otherwise name another worker.
    uint32_t worker = 0;
    const char* end = command.worker.data() + command.worker.size();
    const auto [at, error] = std::from_chars(command.worker.data(), end, worker);
    if (error != std::errc() || at != end) {
      std::fprintf(stderr, "beaconctl archive: not a worker id: %s\n", command.worker.c_str());
      return 2;
    }
    filter.worker = worker;
  }
  for (auto [text, bound] :
       {std::pair{&command.from, &filter.from_ms}, std::pair{&command.to, &filter.to_ms}}) {
    if (!text->empty() && !ParseArchiveTime(*text, bound)) {
      std::fprintf(stderr, "beaconctl archive: not a time: %s\n", text->c_str());
      return 2;
    }
  }
  if (archive.got_subcommand("replay")) return RunArchiveReplay(command);
  if (archive.got_subcommand("ls")) return ArchiveList(fs, command.dir, std::cout, std::cerr);
  if (archive.got_subcommand("verify")) {
    return ArchiveVerify(fs, command.dir, std::cout, std::cerr);
  }
  if (archive.got_subcommand("train")) {
    return ArchiveTrain(fs, command.dir, command.capacity, command.max_records, std::cout,
                        std::cerr);
  }
  if (archive.got_subcommand("export") && !command.out_path.empty()) {
    std::ofstream file(command.out_path, std::ios::binary | std::ios::trunc);
    if (!file) {
      std::fprintf(stderr, "beaconctl archive export: cannot write %s\n", command.out_path.c_str());
      return 1;
    }
    const int status = command.format == "rowbinary"
                           ? ArchiveExportRowBinary(fs, command.dir, filter, file, std::cerr)
                           : ArchiveCat(fs, command.dir, filter, file, std::cerr);
    file.close();
    return file ? status : 1;
  }
  if (archive.got_subcommand("export") && command.format == "rowbinary") {
    return ArchiveExportRowBinary(fs, command.dir, filter, std::cout, std::cerr);
  }
  return ArchiveCat(fs, command.dir, filter, std::cout, std::cerr);
}

// beaconctl archive ls | verify | cat | export | train; their options fill `command`.
CLI::App* AddArchiveCommands(CLI::App& cli, ArchiveCommand* command) {
  auto* archive = cli.add_subcommand("archive", "Read a raw archive directory, or replay it");
  archive->require_subcommand(1);
  auto* archive_ls = archive->add_subcommand("ls", "Segments per worker: sequences, sizes, times");
  auto* archive_verify = archive->add_subcommand(
      "verify", "Check every block's CRC; list torn and corrupt blocks (exit 1 on damage)");
  auto* archive_cat = archive->add_subcommand("cat", "Print records as JSON lines");
  auto* archive_export = archive->add_subcommand(
      "export", "Write records as NDJSON or RowBinary (to --out, else stdout)");
  auto* archive_train = archive->add_subcommand(
      "train", "Train and store a zstd dictionary per format from the archive's records");
  for (auto* sub : {archive_ls, archive_verify, archive_cat, archive_export, archive_train}) {
    sub->add_option("--dir", command->dir, "Archive directory")->required();
  }
  for (auto* sub : {archive_cat, archive_export}) {
    sub->add_option("--worker", command->worker, "Only this worker's records")
        ->check(CLI::NonNegativeNumber);
    sub->add_option("--from", command->from,
                    "Receive time >= this (unix ms, or UTC YYYY-MM-DD[THH:MM[:SS]][Z])");
    sub->add_option("--to", command->to, "Receive time < this (same forms)");
  }
  auto* archive_replay = archive->add_subcommand(
      "replay", "Re-aggregate a time range of the archive into ClickHouse (a backfill)");
  archive_replay->add_option("-c,--config", command->config_path, "beacond config")->required();
  archive_replay->add_option("--dir", command->dir, "Archive directory (default: the config's)");
  archive_replay->add_option("--from", command->from, "Receive time >= this (as cat)")->required();
  archive_replay->add_option("--to", command->to, "Receive time < this")->required();
  archive_replay->add_option("--sites", command->sites, "Only these site ids")->delimiter(',');
  archive_replay->add_option("--threads", command->threads, "Pipeline threads")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  archive_export->add_option("--out", command->out_path, "File to write");
  archive_export
      ->add_option("--format", command->format,
                   "ndjson, or rowbinary for INSERT INTO raw_events FORMAT RowBinary")
      ->check(CLI::IsMember({"ndjson", "rowbinary"}))
      ->capture_default_str();
  archive_train->add_option("--capacity", command->capacity, "Largest dictionary, bytes")
      ->capture_default_str();
  archive_train
      ->add_option("--max-records", command->max_records, "Records sampled per format at most")
      ->capture_default_str();

  return archive;
}

// The dead-letter subcommand that ran and its options.
struct DeadLetterCommand {
  std::string config_path = "/etc/beacond/beacond.toml";
  std::string spool_dir;  // overrides the config's [clickhouse] spool_dir
  std::vector<std::string> ids;
  bool all = false;
};

// beaconctl dead-letter ls | retry | drop; their options fill `command`.
CLI::App* AddDeadLetterCommands(CLI::App& cli, DeadLetterCommand* command) {
  auto* dead_letter = cli.add_subcommand(
      "dead-letter", "Batches ClickHouse refused for their contents, kept in the spool directory");
  dead_letter->require_subcommand(1);
  auto* ls = dead_letter->add_subcommand("ls", "List them: id, shard, time, bytes, table, error");
  auto* retry = dead_letter->add_subcommand(
      "retry", "Put them back into their shard's spool; the running beacond sends them");
  auto* drop = dead_letter->add_subcommand("drop", "Delete them for good");
  for (auto* sub : {ls, retry, drop}) {
    sub->add_option("-c,--config", command->config_path, "beacond config; its spool_dir is used")
        ->capture_default_str();
    sub->add_option("--spool-dir", command->spool_dir, "The spool directory (instead of --config)");
  }
  retry->add_option("id", command->ids, "Dead letter ids (from ls)");
  retry->add_flag("--all", command->all, "Every dead letter");
  drop->add_option("id", command->ids, "Dead letter ids (from ls)")->required();
  return dead_letter;
}

int RunDeadLetter(const CLI::App& dead_letter, DeadLetterCommand command) {
  if (command.spool_dir.empty())
    command.spool_dir = LoadConfig(command.config_path).forwarder.spool_dir;
  if (command.spool_dir.empty()) {
    std::fprintf(stderr, "beaconctl dead-letter: %s sets no [clickhouse] spool_dir\n",
                 command.config_path.c_str());
    return 2;
  }
  if (dead_letter.got_subcommand("ls")) return DeadLetterList(command.spool_dir, std::cout);
  if (dead_letter.got_subcommand("drop")) {
    return DeadLetterDrop(command.spool_dir, command.ids, std::cout, std::cerr);
  }
  if (command.ids.empty() == command.all) {  // ids, or --all: one of them
    return DeadLetterRetry(command.spool_dir, command.ids, command.all, std::cout, std::cerr);
  }
  std::fprintf(stderr, "beaconctl dead-letter retry: give ids or --all\n");
  return 2;
}

// beaconctl schema's options.
struct SchemaCommand {
  std::string config_path;
  host::ClickHouseEndpoint endpoint;
  std::string cluster;
  bool print_only = false;
};

CLI::App* AddSchemaCommand(CLI::App& cli, SchemaCommand* command) {
  auto* schema = cli.add_subcommand("schema", "Create the ClickHouse tables (idempotent)");
  schema->add_option("-c,--config", command->config_path,
                     "beacond config; its [clickhouse] is used");
  schema->add_option("--clickhouse", command->endpoint.url, "ClickHouse HTTP URL");
  schema->add_option("--database", command->endpoint.database, "Database");
  schema->add_option("--cluster", command->cluster,
                     "Cluster (<remote_servers> name): replicated shard-local tables and "
                     "Distributed tables; with --clickhouse, applied to that server only");
  schema->add_option("--user", command->endpoint.user, "User");
  schema->add_option("--password", command->endpoint.password, "Password");
  schema->add_flag("--print", command->print_only, "Print the statements instead of running them");
  return schema;
}

// beaconctl reload's options.
struct ReloadCommand {
  std::string config_path;
  std::string management;
  std::string token;
};

CLI::App* AddReloadCommand(CLI::App& cli, ReloadCommand* command) {
  auto* reload = cli.add_subcommand(
      "reload",
      "Make a running beacond re-read its config and site registry (as SIGHUP does); prints "
      "what changed, what needs a restart, or why it refused (exit 1)");
  reload->add_option("-c,--config", command->config_path,
                     "beacond config: its [management] listen and token");
  reload->add_option("--management", command->management,
                     "Management address host:port (default 127.0.0.1:9464)");
  reload->add_option("--token", command->token, "Management bearer token");
  return reload;
}

// beaconctl schema: the endpoints and options from the flags, or from a config's [clickhouse]
// with the flags given overriding it.
int RunSchema(const CLI::App& schema, const SchemaCommand& command) {
  const std::string& config_path = command.config_path;
  host::ClickHouseEndpoint endpoint = command.endpoint;
  std::string cluster = command.cluster;
  const bool print_only = command.print_only;
  std::vector<std::vector<std::string>> shards = {{endpoint.url}};
  if (!config_path.empty()) {
    const auto config = LoadConfig(config_path);
    const auto overrides = endpoint;
    endpoint = config.forwarder.clickhouse;
    shards = {{endpoint.url}};
    if (!config.forwarder.shards.empty()) shards = config.forwarder.shards;
    if (schema.count("--clickhouse") > 0) shards = {{overrides.url}};
    if (schema.count("--database") > 0) endpoint.database = overrides.database;
    if (schema.count("--cluster") == 0) cluster = config.forwarder.cluster;
  }
  host::SchemaOptions options;
  options.database = endpoint.database;
  options.cluster = cluster;
  return Schema(endpoint, shards, options, print_only);
}

// `stats` and `top`: what they read of a running node's /metrics, and the token they send.
struct WatchCommand {
  std::string metrics_url = "http://127.0.0.1:9464/metrics";
  bool all = false;
  std::string token_file;  // the management bearer token (ManagementToken: file, env, config)
  std::string config;
  std::vector<std::string> nodes;
  int interval_ms = 1000;
  bool once = false;
};

std::pair<CLI::App*, CLI::App*> AddWatchCommands(CLI::App& cli, WatchCommand* c) {
  auto* stats = cli.add_subcommand("stats", "Print a running beacond's non-zero counters");
  stats->add_option("--metrics-url", c->metrics_url, "beacond's management /metrics URL");
  stats->add_flag("--all", c->all, "Also print counters that are zero");
  auto* top = cli.add_subcommand("top", "Live view of running beacond nodes, from their /metrics");
  for (auto* sub : {stats, top}) {
    sub->add_option("--token-file", c->token_file,
                    "File holding the management bearer token (else $BEACON_MANAGEMENT_TOKEN, "
                    "else --config's [management] token)");
    sub->add_option("-c,--config", c->config, "beacond config whose [management] token to send");
  }
  top->add_option("--node", c->nodes, "A node's management address host:port (repeatable)")
      ->required();
  top->add_option("--interval-ms", c->interval_ms, "Refresh interval")
      ->check(CLI::Range(100, 60000));
  top->add_flag("--once", c->once, "Print one screen (two scrapes an interval apart) and exit");
  return {stats, top};
}

}  // namespace
}  // namespace beacon::app

int main(int argc, char** argv) {
  CLI::App cli{"beaconctl: operate beacond"};
  cli.require_subcommand(1);
  beacon::app::SchemaCommand schema_command;
  auto* schema = beacon::app::AddSchemaCommand(cli, &schema_command);

  beacon::app::WatchCommand watch;
  auto [stats, top] = beacon::app::AddWatchCommands(cli, &watch);

  auto* doctor = cli.add_subcommand(
      "doctor", "Check that this machine can run a beacond config (exit 1 when it cannot)");
  auto* setup = cli.add_subcommand(
      "setup", "The doctor's checks; with --apply, carry out the fixes that can be automated");
  std::string node_config = "/etc/beacond/beacond.toml";
  bool apply = false;
  for (auto* sub : {doctor, setup}) {
    sub->add_option("-c,--config", node_config, "beacond config")->capture_default_str();
  }
  setup->add_flag("--apply", apply,
                  "Create directories, reserve hugepages, load vfio-pci, bind the NIC");

  beacon::app::ReloadCommand reload_command;
  auto* reload = beacon::app::AddReloadCommand(cli, &reload_command);

  auto* sites = cli.add_subcommand("sites", "Check a site registry file");
  std::string sites_path;
  sites->add_option("file", sites_path, "Site registry file")->required();

  beacon::app::ArchiveCommand archive_command;
  auto* archive = beacon::app::AddArchiveCommands(cli, &archive_command);

  beacon::app::DeadLetterCommand dead_letter_command;
  auto* dead_letter = beacon::app::AddDeadLetterCommands(cli, &dead_letter_command);

  CLI11_PARSE(cli, argc, argv);
  curl_global_init(CURL_GLOBAL_DEFAULT);
  try {
    if (*schema) {
      return beacon::app::RunSchema(*schema, schema_command);
    }
    if (*stats || *top) {
      const std::string token = beacon::app::ManagementToken(watch.token_file, watch.config);
      if (*stats) return beacon::app::Stats(watch.metrics_url, watch.all, token);
      return beacon::app::RunTop(watch.nodes, watch.interval_ms, watch.once, token);
    }
    if (*sites) return beacon::app::CheckSites(sites_path);
    if (*reload) {
      return beacon::app::Reload(reload_command.config_path, reload_command.management,
                                 reload_command.token);
    }
    if (*archive) return beacon::app::RunArchive(*archive, archive_command);
    if (*dead_letter) return beacon::app::RunDeadLetter(*dead_letter, dead_letter_command);
    if (*doctor || *setup)
      return beacon::app::Doctor(node_config, static_cast<bool>(*setup), *setup && apply);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "beaconctl: %s\n", e.what());
    return 1;
  }
  return 0;
}
