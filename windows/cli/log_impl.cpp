// fmt and spdlog compiled once for vstor.exe and for the StorPort emulator's 32-bit engine
// (windows/sim/x86.cmake). The Linux build links Debian's libfmt and libspdlog; the cross and
// 32-bit builds have only their headers, and used header-only they were compiled again in every
// file that logs (src/iscsi/session.cpp: 104 s header-only, 31 s against compiled libraries).
// So those builds declare them compiled (FMT_HEADER_ONLY off, SPDLOG_COMPILED_LIB on) and
// this file is where their definitions are compiled: each library keeps them in its *-inl.h
// headers; the explicit instantiations are those the headers declare extern or vstor links to.
#if defined(FMT_HEADER_ONLY) || !defined(SPDLOG_COMPILED_LIB)
#error "fmt and spdlog are declared compiled libraries where this file is built"
#endif

#include <fmt/format-inl.h>

FMT_BEGIN_NAMESPACE
namespace detail {
template FMT_API auto thousands_sep_impl<char>(locale_ref) -> thousands_sep_result<char>;
template FMT_API auto thousands_sep_impl<wchar_t>(locale_ref) -> thousands_sep_result<wchar_t>;
template FMT_API auto decimal_point_impl(locale_ref) -> char;
template FMT_API auto decimal_point_impl(locale_ref) -> wchar_t;
}  // namespace detail
FMT_END_NAMESPACE

#include <spdlog/common-inl.h>
#include <spdlog/details/backtracer-inl.h>
#include <spdlog/details/log_msg-inl.h>
#include <spdlog/details/log_msg_buffer-inl.h>
#include <spdlog/details/os-inl.h>
#include <spdlog/details/periodic_worker-inl.h>
#include <spdlog/details/registry-inl.h>
#include <spdlog/logger-inl.h>
#include <spdlog/pattern_formatter-inl.h>
#include <spdlog/sinks/base_sink-inl.h>
#include <spdlog/sinks/sink-inl.h>
#ifdef _WIN32
#include <spdlog/sinks/wincolor_sink-inl.h>
#else
#include <spdlog/sinks/ansicolor_sink-inl.h>
#endif
#include <spdlog/spdlog-inl.h>

// The default logger's sink (registry-inl.h) and the base class every sink derives from.
template class spdlog::sinks::base_sink<std::mutex>;
template class spdlog::sinks::base_sink<spdlog::details::null_mutex>;
#ifdef _WIN32
template class spdlog::sinks::wincolor_sink<spdlog::details::console_mutex>;
template class spdlog::sinks::wincolor_stdout_sink<spdlog::details::console_mutex>;
template class spdlog::sinks::wincolor_stderr_sink<spdlog::details::console_mutex>;
#else
template class spdlog::sinks::ansicolor_sink<spdlog::details::console_mutex>;
template class spdlog::sinks::ansicolor_stdout_sink<spdlog::details::console_mutex>;
template class spdlog::sinks::ansicolor_stderr_sink<spdlog::details::console_mutex>;
#endif
