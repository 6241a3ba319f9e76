// RunTop: scrapes the nodes every interval and draws the view with plain ANSI sequences on
// the alternate screen, reading keys in non-canonical mode.
#include <poll.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <exception>
#include <string>
#include <thread>
#include <vector>

#include "appliance/ctl/http_get.h"
#include "appliance/ctl/top.h"

namespace beacon::app {
namespace {

volatile std::sig_atomic_t g_interrupted = 0;

void OnInterrupt(int) { g_interrupted = 1; }

double NowSeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::string MetricsUrl(const std::string& node) {
  return node.find("://") != std::string::npos ? node : "http://" + node + "/metrics";
}

// Scrapes one node; a node that does not answer keeps its last scrapes.
void ScrapeOne(long timeout_ms, const std::string* token, NodeScrapes* node) {
  try {
    Scrape scrape{0, ParseScrape(HttpGet(MetricsUrl(node->node), timeout_ms, *token))};
    scrape.time_s = NowSeconds();
    node->before = std::move(node->after);
    node->after = std::move(scrape);
    node->error.clear();
  } catch (const std::exception& e) {
    // HttpGet names the URL first; the node column already says which it is.
    const std::string what = e.what();
    const size_t colon = what.rfind(": ");
    node->error = colon == std::string::npos ? what : what.substr(colon + 2);
  }
}

// One scrape of every node, all at once: a node that does not answer costs one timeout.
void ScrapeAll(long timeout_ms, const std::string& token, std::vector<NodeScrapes>* nodes) {
  std::vector<std::thread> threads;
  for (NodeScrapes& node : *nodes) threads.emplace_back(ScrapeOne, timeout_ms, &token, &node);
  for (std::thread& t : threads) t.join();
}

size_t MaxColumns(const std::vector<Table>& tables) {
  size_t n = 0;
  for (const Table& t : tables) n = std::max(n, t.columns.size());
  return n;
}

std::string Header(size_t nodes, int interval_ms, const ViewState& view) {
  std::string header =
      "beaconctl top: " + std::to_string(nodes) + " node(s), every " + std::to_string(interval_ms) +
      " ms; sort: " + (view.sort == 0 ? "natural" : "column " + std::to_string(view.sort)) +
      "; filter: ";
  header += view.editing ? view.draft + "_" : (view.filter.empty() ? "none" : view.filter);
  return header + "   [s] sort  [/] filter  [Esc] clear  [q] quit";
}

std::vector<std::string> Frame(const std::vector<NodeScrapes>& nodes, int interval_ms,
                               const ViewState& view, size_t width, size_t height,
                               size_t* max_columns) {
  std::vector<Table> tables = BuildTables(nodes);
  *max_columns = MaxColumns(tables);
  for (Table& t : tables) ApplyView(view, &t);
  return RenderScreen(tables, view, Header(nodes.size(), interval_ms, view), width, height);
}

// Raw keys, the alternate screen and a hidden cursor while alive.
class Terminal {
 public:
  Terminal() {
    have_saved_ = tcgetattr(STDIN_FILENO, &saved_) == 0;
    if (have_saved_) {
      termios raw = saved_;
      raw.c_lflag &= ~static_cast<tcflag_t>(ICANON | ECHO);
      raw.c_cc[VMIN] = 0;
      raw.c_cc[VTIME] = 0;
      tcsetattr(STDIN_FILENO, TCSANOW, &raw);
    }
    std::fputs("\x1b[?1049h\x1b[?25l", stdout);
  }
  ~Terminal() {
    std::fputs("\x1b[?25h\x1b[?1049l", stdout);
    std::fflush(stdout);
    if (have_saved_) tcsetattr(STDIN_FILENO, TCSANOW, &saved_);
  }
  Terminal(const Terminal&) = delete;
  Terminal& operator=(const Terminal&) = delete;

  static void Size(size_t* width, size_t* height) {
    winsize ws{};
    const bool known = ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0;
    *width = known ? ws.ws_col : 120;
    *height = known ? ws.ws_row : 40;
  }

  static void Draw(const std::vector<std::string>& lines) {
    std::string out = "\x1b[H";
    for (size_t i = 0; i < lines.size(); ++i) {
      out += lines[i] + "\x1b[K";
      if (i + 1 < lines.size()) out += "\r\n";
    }
    out += "\x1b[J";
    std::fwrite(out.data(), 1, out.size(), stdout);
    std::fflush(stdout);
  }

  // Waits up to `timeout_ms` for keys. Once stdin has ended (no terminal: a script, cron)
  // it only waits: an input at its end is readable at once, every time.
  std::vector<int> Keys(int timeout_ms) {
    pollfd in{STDIN_FILENO, POLLIN, 0};
    if (!input_open_) {
      poll(nullptr, 0, timeout_ms);
      return {};
    }
    if (poll(&in, 1, timeout_ms) <= 0) return {};
    char buf[64];
    const ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));
    if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) input_open_ = false;
    if (n <= 0) return {};
    return DecodeKeys(std::string_view(buf, static_cast<size_t>(n)));
  }

 private:
  termios saved_{};
  bool have_saved_ = false;
  bool input_open_ = true;
};

}  // namespace

int RunTop(const std::vector<std::string>& node_names, int interval_ms, bool once,
           const std::string& token) {
  std::vector<NodeScrapes> nodes;
  for (const std::string& name : node_names) nodes.push_back({name, {}, {}, {}});
  const long timeout_ms = std::max(200, interval_ms * 4 / 5);
  ViewState view;
  size_t max_columns = 0;
  if (once) {
    ScrapeAll(timeout_ms, token, &nodes);
    usleep(static_cast<useconds_t>(interval_ms) * 1000);
    ScrapeAll(timeout_ms, token, &nodes);
    for (const std::string& line : Frame(nodes, interval_ms, view, 200, 1000, &max_columns)) {
      std::printf("%s\n", line.c_str());
    }
    for (const NodeScrapes& node : nodes) {
      if (!node.error.empty()) return 1;
    }
    return 0;
  }
  std::signal(SIGINT, OnInterrupt);
  std::signal(SIGTERM, OnInterrupt);
  Terminal terminal;
  double next = 0;
  for (bool running = true; running && g_interrupted == 0;) {
    if (NowSeconds() >= next) {
      ScrapeAll(timeout_ms, token, &nodes);
      next = NowSeconds() + interval_ms / 1000.0;
    }
    size_t width = 0;
    size_t height = 0;
    Terminal::Size(&width, &height);
    Terminal::Draw(Frame(nodes, interval_ms, view, width, height, &max_columns));
    // Rounded up: a wait cut to 0 ms short of `next` would redraw until it comes.
    const int wait_ms = std::max(0, static_cast<int>(std::ceil((next - NowSeconds()) * 1000)));
    for (const int key : terminal.Keys(wait_ms)) {
      running = running && HandleKey(key, max_columns, &view);
    }
  }
  return 0;
}

}  // namespace beacon::app
