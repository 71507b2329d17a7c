#include "sys/nftables.h"

#include <nftables/libnftables.h>

#include <memory>

#include "error.h"
#include "text.h"

namespace opdbus::sys {
namespace {

struct CtxFree {
  void operator()(nft_ctx* c) const { nft_ctx_free(c); }
};

}  // namespace

NftResult nft_run(std::string_view commands) {
  std::unique_ptr<nft_ctx, CtxFree> ctx(nft_ctx_new(NFT_CTX_DEFAULT));
  if (!ctx) throw Error(ErrorKind::Unavailable, "libnftables: cannot create a context");
  nft_ctx_output_set_flags(ctx.get(), NFT_CTX_OUTPUT_JSON | NFT_CTX_OUTPUT_HANDLE);
  if (nft_ctx_buffer_output(ctx.get()) != 0 || nft_ctx_buffer_error(ctx.get()) != 0) {
    throw Error(ErrorKind::Unavailable, "libnftables: cannot buffer output");
  }
  std::string buffer(commands);  // nft_run_cmd_from_buffer wants a NUL-terminated string
  NftResult result;
  result.rc = nft_run_cmd_from_buffer(ctx.get(), buffer.c_str());
  if (const char* out = nft_ctx_get_output_buffer(ctx.get())) result.output = out;
  if (const char* err = nft_ctx_get_error_buffer(ctx.get())) result.error = err;
  return result;
}

std::string nft_run_checked(std::string_view commands, std::string_view doing) {
  auto result = nft_run(commands);
  if (result.rc != 0) {
    std::string message = trim(result.error);
    if (message.empty()) message = "nft refused the command (status " + std::to_string(result.rc) + ")";
    throw Error(ErrorKind::BackendError, std::string(doing) + ": " + message);
  }
  return result.output;
}

}  // namespace opdbus::sys
