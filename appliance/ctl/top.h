// beaconctl top: a live view of one or more beacond nodes from their /metrics. The view is
// built in steps that are tested on their own: two scrapes per node -> tables of rates and
// levels -> sorted and filtered -> lines of a screen; RunTop drives them on a terminal.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "appliance/ctl/scrape.h"

namespace beacon::app {

// A node's last two scrapes (or why it could not be scraped).
struct NodeScrapes {
  std::string node;  // host:port of its management listener
  std::optional<Scrape> before;
  std::optional<Scrape> after;
  std::string error;  // of the last attempt; "" when it answered
};

struct TableColumn {
  std::string name;
  bool numeric = true;
};

struct TableRow {
  std::vector<std::string> cells;
  std::vector<double> keys;  // sort keys of numeric cells (0 for text cells)
};

struct Table {
  std::string title;
  std::vector<TableColumn> columns;
  std::vector<TableRow> rows;
  bool filterable = true;  // the node summary stays whatever the filter
};

// The tables of the view: nodes (rates by ingress, queue, spool, forward lag, insert errors),
// formats, sites, rejects by reason, workers (CPU, beacons, ticks, aggregator) and ClickHouse
// shards.
// A node with one scrape so far shows levels and no rates.
std::vector<Table> BuildTables(const std::vector<NodeScrapes>& nodes);

struct ViewState {
  size_t sort = 0;       // 0: natural order; k: column k-1 of each table (numbers descending)
  std::string filter;    // rows of filterable tables must contain it (case-insensitive)
  bool editing = false;  // typing a filter after '/'
  std::string draft;
};

// Applies a key: s cycles the sort column (through `max_columns`), / edits the filter (Enter
// applies, Esc cancels, Backspace), Esc clears the filter, q quits. Returns false to quit.
bool HandleKey(int key, size_t max_columns, ViewState* state);

// The keys in bytes read from a terminal: an escape sequence (an arrow key: ESC [ ... final
// byte, or ESC O x) is dropped whole; ESC followed by anything else is the Esc key.
std::vector<int> DecodeKeys(std::string_view bytes);

// Sorts and filters `table` as `state` says.
void ApplyView(const ViewState& state, Table* table);

// The screen: a header line, then each table (title, column names with '*' on the sort
// column, rows) within `width` x `height`; tables share the rows that fit.
std::vector<std::string> RenderScreen(const std::vector<Table>& tables, const ViewState& state,
                                      const std::string& header, size_t width, size_t height);

// Scrapes http://NODE/metrics every `interval_ms` (with `token` as the bearer token unless
// empty) and draws the view on the terminal until q; `once`: prints one screen (after two
// scrapes) to stdout and returns. Returns 0, or 1 when (with `once`) a node could not be
// scraped.
int RunTop(const std::vector<std::string>& nodes, int interval_ms, bool once,
           const std::string& token = "");

}  // namespace beacon::app
