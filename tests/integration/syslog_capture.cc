// The UDP side of nginx_relay_test.sh.
//   syslog_capture capture PORT_FILE OUT_DIR COUNT
//     binds a UDP socket on 127.0.0.1 (ephemeral port, written to PORT_FILE), stores the first
//     COUNT datagrams as OUT_DIR/<n>.dgram, then waits 500 ms more and fails if another
//     arrives; fails after 20 s without COUNT datagrams.
//   syslog_capture check REQUEST_DIR DATAGRAM_DIR COUNT
//     for request n (REQUEST_DIR/<n>.{endpoint,method,uri,body,ua}) and datagram n: the
//     relayed line must carry exactly the request's method, URI, body and user agent, and
//     decoding the datagram as Endpoint::kUdpSyslog must give the same rows (and no reject)
//     as decoding the request as the HTTP server hands it over.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "kernels/decode.h"
#include "kernels/formats/relay.h"
#include "kernels/raw_batch.h"
#include "kernels/reject_reason.h"
#include "kernels/site_registry.h"

namespace {

using beacon::kernels::Endpoint;

constexpr std::string_view kRegistry = "1 shop G-SHOP1,shop.example,shopapp * api_secrets=s3cret\n";
constexpr uint64_t kVisitorKey = 42;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

int Capture(const std::string& port_file, const std::string& out_dir, int count) {
  const int fd = socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const int size = 4 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    std::perror("bind");
    return 1;
  }
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  std::ofstream(port_file) << ntohs(addr.sin_port) << "\n";
  std::vector<char> buffer(65536);
  int received = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  for (;;) {
    const auto now = std::chrono::steady_clock::now();
    int wait_ms = 500;
    if (received < count) {
      if (now >= deadline) {
        std::cerr << "capture: " << received << " of " << count << " datagrams in 20 s\n";
        return 1;
      }
      wait_ms = static_cast<int>(
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count());
    }
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, wait_ms) <= 0) {
      if (received >= count) return 0;  // nothing more within 500 ms: done
      continue;
    }
    const ssize_t n = recv(fd, buffer.data(), buffer.size(), 0);
    if (n < 0) continue;
    if (received >= count) {
      std::cerr << "capture: an unexpected extra datagram: "
                << std::string_view(buffer.data(), static_cast<size_t>(n)) << "\n";
      return 1;
    }
    std::ofstream(out_dir + "/" + std::to_string(received) + ".dgram", std::ios::binary)
        .write(buffer.data(), n);
    ++received;
  }
}

Endpoint ParseEndpoint(const std::string& name) {
  const std::vector<std::pair<std::string_view, Endpoint>> names = {
      {"ga_collect", Endpoint::kGaCollect},      {"ga_batch", Endpoint::kGaBatch},
      {"ga4_gtag", Endpoint::kGa4Gtag},          {"ga4_mp", Endpoint::kGa4Mp},
      {"plausible", Endpoint::kPlausibleEvent},  {"snowplow_get", Endpoint::kSnowplowGet},
      {"snowplow_post", Endpoint::kSnowplowPost}};
  for (const auto& [n, e] : names) {
    if (n == name) return e;
  }
  throw std::runtime_error("unknown endpoint name " + name);
}

using Row = std::tuple<uint32_t, uint32_t, int, int, uint64_t, std::string>;

// Decodes a one-beacon batch; returns its rows and its reject count.
std::vector<Row> Decode(const beacon::kernels::RawBatch& raw,
                        const beacon::kernels::DecodeContext& ctx, uint64_t* rejects) {
  beacon::kernels::EventBatch events;
  const uint64_t before = ctx.rejects->Total();
  beacon::kernels::DecodeBatch(raw, ctx, &events);
  *rejects = ctx.rejects->Total() - before;
  std::vector<Row> rows;
  for (size_t i = 0; i < events.size(); ++i) {
    rows.emplace_back(events.site_id[i], events.minute[i], static_cast<int>(events.kind[i]),
                      events.flags[i], events.visitor[i], std::string(events.str(events.path[i])));
  }
  return rows;
}

int Check(const std::string& request_dir, const std::string& datagram_dir, int count) {
  using namespace beacon::kernels;
  const SiteRegistry sites = SiteRegistry::Parse(kRegistry);
  RejectCounters rejects;
  const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  DecodeContext ctx{&sites, &rejects, kVisitorKey, {now_ms / 86'400'000, 0x5a17, 0x5a16}};
  int failures = 0;
  for (int n = 0; n < count; ++n) {
    const std::string req = request_dir + "/" + std::to_string(n);
    const std::string method = ReadFile(req + ".method");
    const std::string uri = ReadFile(req + ".uri");
    const std::string body = ReadFile(req + ".body");
    const std::string ua = ReadFile(req + ".ua");
    const Endpoint endpoint = ParseEndpoint(ReadFile(req + ".endpoint"));
    const std::string datagram = ReadFile(datagram_dir + "/" + std::to_string(n) + ".dgram");
    const auto fail = [&](const std::string& what) {
      std::cerr << "request " << n << " (" << method << " " << uri << "): " << what << "\n"
                << "  datagram: " << datagram << "\n";
      ++failures;
    };

    std::string_view message;
    if (!SyslogMessage(datagram, &message)) {
      fail("not a syslog frame");
      continue;
    }
    std::vector<char> scratch(message.size() + kPayloadPadding);
    RelayLine line;
    if (const auto reason = ParseRelayLine(message, scratch.data(), &line)) {
      fail("bad relay line: " + std::string(RejectReasonName(*reason)));
      continue;
    }
    if (line.method != method || line.uri != uri || line.body != body || line.user_agent != ua) {
      fail("relayed fields differ: method '" + std::string(line.method) + "' uri '" +
           std::string(line.uri) + "' ua '" + std::string(line.user_agent) + "' body '" +
           std::string(line.body) + "'");
      continue;
    }
    if (std::string(line.referer) != "https://shop.example/from" || line.country != "DE") {
      fail("referer or country not relayed");
    }
    if (line.time_ms < now_ms - 60'000 || line.time_ms > now_ms) fail("line time not recent");

    // As the HTTP server hands the request over: GET payloads of /collect and /i are the
    // query; otherwise the body, with the query alongside.
    const size_t q = uri.find('?');
    const std::string query = q == std::string::npos ? "" : uri.substr(q + 1);
    const bool payload_is_query =
        method == "GET" && (endpoint == Endpoint::kGaCollect || endpoint == Endpoint::kSnowplowGet);
    RawBatch direct;
    direct.Add(endpoint, IngressKind::kHttp, payload_is_query ? query : body, ua,
               IpAddress::FromV4(0x7F000001), line.time_ms, payload_is_query ? "" : query);
    RawBatch relayed;
    relayed.Add(Endpoint::kUdpSyslog, IngressKind::kUdpRelay, datagram, "", IpAddress{}, now_ms);
    uint64_t direct_rejects = 0;
    uint64_t relayed_rejects = 0;
    const std::vector<Row> want = Decode(direct, ctx, &direct_rejects);
    const std::vector<Row> got = Decode(relayed, ctx, &relayed_rejects);
    if (want.empty() || direct_rejects != 0) fail("the direct decode did not accept every event");
    if (got != want || relayed_rejects != 0) {
      fail("relayed rows differ: " + std::to_string(got.size()) + " rows, " +
           std::to_string(relayed_rejects) + " rejects; expected " + std::to_string(want.size()) +
           " rows");
    }
  }
  if (failures == 0) std::cout << "check: " << count << " relayed beacons decode as over HTTP\n";
  return failures == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::vector<std::string> args(argv + 1, argv + argc);
    if (args.size() == 4 && args[0] == "capture")
      return Capture(args[1], args[2], std::stoi(args[3]));
    if (args.size() == 4 && args[0] == "check") return Check(args[1], args[2], std::stoi(args[3]));
  } catch (const std::exception& e) {
    std::cerr << "syslog_capture: " << e.what() << "\n";
    return 1;
  }
  std::cerr << "usage: syslog_capture capture PORT_FILE OUT_DIR COUNT\n"
               "       syslog_capture check REQUEST_DIR DATAGRAM_DIR COUNT\n";
  return 2;
}
