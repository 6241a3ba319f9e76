// MakeDpdkIngress of a beacond built without DPDK.
#include <stdexcept>

#include "appliance/ingress.h"

namespace beacon::app {

std::unique_ptr<Ingress> MakeDpdkIngress(const DpdkIngressConfig&,
                                         std::vector<kernels::BeaconSink*>) {
  throw std::runtime_error(
      "[dpdk] is configured, but this beacond was built without DPDK (install libdpdk-dev "
      "and configure with BEACON_WITH_DPDK=AUTO or ON)");
}

}  // namespace beacon::app
