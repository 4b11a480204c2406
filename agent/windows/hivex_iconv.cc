// hivex recodes key and value names with iconv: Latin-1 (names stored "compressed", as nearly all are) and UTF-16LE.
// glibc has UTF-16LE built in, but Latin-1 lives in a gconv module it dlopen()s at run time: a static agent on a host
// without the same glibc's modules (a distroless container, Alpine, another glibc) gets NULL for every key name.
// The agent is linked with --wrap for iconv_open/iconv/iconv_close (agent/CMakeLists.txt), so hivex's calls land
// here: the two charsets hivex uses are converted in this file, anything else goes on to the real iconv.
#include <errno.h>
#include <iconv.h>
#include <strings.h>

#include <cstddef>
#include <cstdint>

extern "C" {
iconv_t __real_iconv_open(const char* tocode, const char* fromcode);
size_t __real_iconv(iconv_t cd, char** inbuf, size_t* inbytesleft, char** outbuf, size_t* outbytesleft);
int __real_iconv_close(iconv_t cd);
iconv_t __wrap_iconv_open(const char* tocode, const char* fromcode);
size_t __wrap_iconv(iconv_t cd, char** inbuf, size_t* inbytesleft, char** outbuf, size_t* outbytesleft);
int __wrap_iconv_close(iconv_t cd);
}

namespace {

enum class Charset { kUtf8, kLatin1, kUtf16le, kOther };

struct Converter {
  Charset from;
  Charset to;
};

// The handles given out: addresses of these, told apart from the real iconv's by address.
Converter kConverters[] = {
    {Charset::kLatin1, Charset::kUtf8},
    {Charset::kUtf8, Charset::kLatin1},
    {Charset::kUtf16le, Charset::kUtf8},
    {Charset::kUtf8, Charset::kUtf16le},
};

Charset CharsetOf(const char* name) {
  if (::strcasecmp(name, "UTF-8") == 0 || ::strcasecmp(name, "UTF8") == 0) return Charset::kUtf8;
  if (::strcasecmp(name, "LATIN1") == 0 || ::strcasecmp(name, "ISO-8859-1") == 0) return Charset::kLatin1;
  if (::strcasecmp(name, "UTF-16LE") == 0) return Charset::kUtf16le;
  return Charset::kOther;
}

Converter* Ours(iconv_t cd) {
  for (Converter& c : kConverters) {
    if (cd == static_cast<void*>(&c)) return &c;
  }
  return nullptr;
}

// Decodes one code point at `in` (at most `left` bytes); returns the bytes used, 0 for an incomplete sequence at the
// end, or -1 for an invalid one. Unpaired UTF-16 surrogates become U+FFFD: a registry name is shown, not refused.
int Decode(Charset from, const unsigned char* in, size_t left, uint32_t* cp) {
  switch (from) {
    case Charset::kLatin1:
      *cp = in[0];
      return 1;
    case Charset::kUtf16le: {
      if (left < 2) return 0;
      const uint32_t unit = in[0] | (in[1] << 8);
      if (unit >= 0xD800 && unit <= 0xDBFF) {
        if (left < 4) return 0;
        const uint32_t low = in[2] | (in[3] << 8);
        if (low >= 0xDC00 && low <= 0xDFFF) {
          *cp = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
          return 4;
        }
        *cp = 0xFFFD;
        return 2;
      }
      *cp = (unit >= 0xDC00 && unit <= 0xDFFF) ? 0xFFFD : unit;
      return 2;
    }
    case Charset::kUtf8: {
      const unsigned char b = in[0];
      int n = 0;
      uint32_t v = 0;
      if (b < 0x80) {
        *cp = b;
        return 1;
      }
      if ((b & 0xE0) == 0xC0) {
        n = 2;
        v = b & 0x1F;
      } else if ((b & 0xF0) == 0xE0) {
        n = 3;
        v = b & 0x0F;
      } else if ((b & 0xF8) == 0xF0) {
        n = 4;
        v = b & 0x07;
      } else {
        return -1;
      }
      if (left < static_cast<size_t>(n)) return 0;
      for (int i = 1; i < n; ++i) {
        if ((in[i] & 0xC0) != 0x80) return -1;
        v = (v << 6) | (in[i] & 0x3F);
      }
      *cp = v;
      return n;
    }
    case Charset::kOther: break;
  }
  return -1;
}

// Encodes `cp` into `out` (room for `room` bytes): bytes written, 0 when there is no room, -1 when `to` cannot hold it.
int Encode(Charset to, uint32_t cp, unsigned char* out, size_t room) {
  switch (to) {
    case Charset::kLatin1:
      if (cp > 0xFF) return -1;
      if (room < 1) return 0;
      out[0] = static_cast<unsigned char>(cp);
      return 1;
    case Charset::kUtf16le:
      if (cp >= 0x10000) {
        if (room < 4) return 0;
        const uint32_t v = cp - 0x10000;
        const uint32_t high = 0xD800 + (v >> 10);
        const uint32_t low = 0xDC00 + (v & 0x3FF);
        out[0] = static_cast<unsigned char>(high & 0xFF);
        out[1] = static_cast<unsigned char>(high >> 8);
        out[2] = static_cast<unsigned char>(low & 0xFF);
        out[3] = static_cast<unsigned char>(low >> 8);
        return 4;
      }
      if (room < 2) return 0;
      out[0] = static_cast<unsigned char>(cp & 0xFF);
      out[1] = static_cast<unsigned char>(cp >> 8);
      return 2;
    case Charset::kUtf8: {
      unsigned char buf[4];
      int n = 0;
      if (cp < 0x80) {
        buf[n++] = static_cast<unsigned char>(cp);
      } else if (cp < 0x800) {
        buf[n++] = static_cast<unsigned char>(0xC0 | (cp >> 6));
        buf[n++] = static_cast<unsigned char>(0x80 | (cp & 0x3F));
      } else if (cp < 0x10000) {
        buf[n++] = static_cast<unsigned char>(0xE0 | (cp >> 12));
        buf[n++] = static_cast<unsigned char>(0x80 | ((cp >> 6) & 0x3F));
        buf[n++] = static_cast<unsigned char>(0x80 | (cp & 0x3F));
      } else if (cp < 0x110000) {
        buf[n++] = static_cast<unsigned char>(0xF0 | (cp >> 18));
        buf[n++] = static_cast<unsigned char>(0x80 | ((cp >> 12) & 0x3F));
        buf[n++] = static_cast<unsigned char>(0x80 | ((cp >> 6) & 0x3F));
        buf[n++] = static_cast<unsigned char>(0x80 | (cp & 0x3F));
      } else {
        return -1;
      }
      if (room < static_cast<size_t>(n)) return 0;
      for (int i = 0; i < n; ++i) out[i] = buf[i];
      return n;
    }
    case Charset::kOther: break;
  }
  return -1;
}

// iconv(3)'s contract: convert as much as fits, advance the pointers, and say why it stopped.
size_t Convert(const Converter& c, char** inbuf, size_t* inleft, char** outbuf, size_t* outleft) {
  if (inbuf == nullptr || *inbuf == nullptr) return 0;  // reset: these converters keep no state
  while (*inleft > 0) {
    uint32_t cp = 0;
    const int used = Decode(c.from, reinterpret_cast<const unsigned char*>(*inbuf), *inleft, &cp);
    if (used == 0) {
      errno = EINVAL;
      return static_cast<size_t>(-1);
    }
    if (used < 0) {
      errno = EILSEQ;
      return static_cast<size_t>(-1);
    }
    const int wrote = Encode(c.to, cp, reinterpret_cast<unsigned char*>(*outbuf), *outleft);
    if (wrote == 0) {
      errno = E2BIG;
      return static_cast<size_t>(-1);
    }
    if (wrote < 0) {
      errno = EILSEQ;
      return static_cast<size_t>(-1);
    }
    *inbuf += used;
    *inleft -= static_cast<size_t>(used);
    *outbuf += wrote;
    *outleft -= static_cast<size_t>(wrote);
  }
  return 0;
}

}  // namespace

iconv_t __wrap_iconv_open(const char* tocode, const char* fromcode) {
  const Charset to = CharsetOf(tocode);
  const Charset from = CharsetOf(fromcode);
  for (Converter& c : kConverters) {
    if (c.from == from && c.to == to) return static_cast<iconv_t>(&c);
  }
  return __real_iconv_open(tocode, fromcode);
}

size_t __wrap_iconv(iconv_t cd, char** inbuf, size_t* inbytesleft, char** outbuf, size_t* outbytesleft) {
  if (const Converter* c = Ours(cd)) return Convert(*c, inbuf, inbytesleft, outbuf, outbytesleft);
  return __real_iconv(cd, inbuf, inbytesleft, outbuf, outbytesleft);
}

int __wrap_iconv_close(iconv_t cd) {
  if (Ours(cd) != nullptr) return 0;
  return __real_iconv_close(cd);
}
