#include "update_spill.h"

#include <torch/torch.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace flsentry::sim {

Result<UpdateSpill> UpdateSpill::Create(int64_t d) {
  if (d <= 0) return InvalidArgument("update spill: d must be positive");
  FILE* file = std::tmpfile();
  if (file == nullptr) {
    return IoError(std::string("update spill: cannot create a scratch file: ") +
                   std::strerror(errno));
  }
  return UpdateSpill(std::unique_ptr<FILE, Closer>(file), d);
}

Result<size_t> UpdateSpill::Append(const torch::Tensor& update) {
  if (!update.defined() || update.dim() != 1 || update.numel() != d_ ||
      update.scalar_type() != torch::kFloat || !update.is_contiguous()) {
    return InvalidArgument("update spill: expected a contiguous float32 [" +
                           std::to_string(d_) + "] tensor");
  }
  const size_t bytes = static_cast<size_t>(d_) * sizeof(float);
  if (std::fseek(file_.get(), 0, SEEK_END) != 0 ||
      std::fwrite(update.data_ptr<float>(), 1, bytes, file_.get()) != bytes) {
    return IoError(std::string("update spill: write failed: ") +
                   std::strerror(errno));
  }
  return count_++;
}

Result<torch::Tensor> UpdateSpill::Read(size_t index) const {
  if (index >= count_) {
    return InvalidArgument("update spill: no update " + std::to_string(index));
  }
  torch::Tensor out = torch::empty({d_}, torch::kFloat);
  const size_t bytes = static_cast<size_t>(d_) * sizeof(float);
  if (std::fflush(file_.get()) != 0 ||
      std::fseek(file_.get(), static_cast<long>(index * bytes), SEEK_SET) !=
          0 ||
      std::fread(out.data_ptr<float>(), 1, bytes, file_.get()) != bytes) {
    return IoError(std::string("update spill: read failed: ") +
                   std::strerror(errno));
  }
  return out;
}

Result<torch::Tensor> SpilledFedAvg(const UpdateSpill& spill,
                                    const std::vector<double>& weights) {
  if (weights.size() != spill.size()) {
    return InvalidArgument("spilled FedAvg: " + std::to_string(weights.size()) +
                           " weights for " + std::to_string(spill.size()) +
                           " updates");
  }
  double total = 0.0;
  for (double w : weights) total += w;
  if (!(total > 0.0)) {
    return InvalidArgument(
        "aggregator 'fedavg': the averaged updates have a total weight of 0");
  }
  torch::NoGradGuard no_grad;
  torch::Tensor acc;
  for (size_t i = 0; i < weights.size(); ++i) {
    if (weights[i] == 0.0) continue;
    FLS_ASSIGN_OR_RETURN(torch::Tensor update, spill.Read(i));
    if (!acc.defined()) acc = torch::zeros({update.numel()}, torch::kDouble);
    acc.add_(update, weights[i] / total);  // float32 promoted per element
  }
  return acc.to(torch::kFloat).contiguous();
}

Result<std::vector<aggfilter::Decision>> FilterOnArrival(
    FilterClient& filter, uint64_t round, const ParameterLayout& layout,
    const torch::Tensor& global, std::vector<ClientUpdate>& updates,
    UpdateSpill& spill) {
  FLS_RETURN_IF_ERROR(filter.BeginRound(round, layout, global));
  for (ClientUpdate& u : updates) {
    FLS_RETURN_IF_ERROR(filter.AddUpdate(layout, u));
    FLS_RETURN_IF_ERROR(spill.Append(u.delta).status());
    u.delta = torch::Tensor();  // freed: the filter and the spill have it
  }
  return filter.EndRound();
}

}  // namespace flsentry::sim
