/* ELF + PVH loader: every field of the file is checked before it is used. */
#include "loader.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "layout.h"
#include "log.h"

#define XEN_ELFNOTE_PHYS32_ENTRY 18
#define PHDR_MAX 64

/* A program header, widened so one code path serves ELF32 and ELF64. */
struct phdr {
	uint32_t type;
	uint64_t offset, paddr, filesz, memsz;
};

static bool range_in(uint64_t off, uint64_t len, uint64_t size)
{
	return off <= size && len <= size - off;
}

static int read_phdrs(const uint8_t *img, uint64_t size, const char *name, struct phdr *ph,
		      unsigned *n)
{
	bool is64 = img[EI_CLASS] == ELFCLASS64;
	uint64_t phoff;
	unsigned phnum, phentsize, want;
	/* Copied, not cast: the image need not be aligned for the header's fields. */
	if (is64) {
		Elf64_Ehdr eh;
		memcpy(&eh, img, sizeof(eh));
		phoff = eh.e_phoff;
		phnum = eh.e_phnum;
		phentsize = eh.e_phentsize;
		want = sizeof(Elf64_Phdr);
	} else {
		Elf32_Ehdr eh;
		memcpy(&eh, img, sizeof(eh));
		phoff = eh.e_phoff;
		phnum = eh.e_phnum;
		phentsize = eh.e_phentsize;
		want = sizeof(Elf32_Phdr);
	}
	if (phnum == 0 || phnum > PHDR_MAX || phentsize != want ||
	    !range_in(phoff, (uint64_t)phnum * phentsize, size)) {
		log_err("%s: bad ELF program header table", name);
		return -ENOEXEC;
	}
	for (unsigned i = 0; i < phnum; i++) {
		const uint8_t *p = img + phoff + (uint64_t)i * phentsize;
		if (is64) {
			Elf64_Phdr h;
			memcpy(&h, p, sizeof(h));
			ph[i] = (struct phdr){ h.p_type, h.p_offset, h.p_paddr, h.p_filesz,
					       h.p_memsz };
		} else {
			Elf32_Phdr h;
			memcpy(&h, p, sizeof(h));
			ph[i] = (struct phdr){ h.p_type, h.p_offset, h.p_paddr, h.p_filesz,
					       h.p_memsz };
		}
	}
	*n = phnum;
	return 0;
}

/* Walk one PT_NOTE segment for Xen's PHYS32_ENTRY note. 1 found, 0 not, -errno bad. */
static int find_pvh_note(const uint8_t *seg, uint64_t len, uint64_t *entry)
{
	uint64_t off = 0;
	while (len - off >= 12) {
		uint32_t namesz, descsz, type;
		memcpy(&namesz, seg + off, 4);
		memcpy(&descsz, seg + off + 4, 4);
		memcpy(&type, seg + off + 8, 4);
		off += 12;
		uint64_t name_len = ((uint64_t)namesz + 3) & ~3ull;
		uint64_t desc_len = ((uint64_t)descsz + 3) & ~3ull;
		if (name_len > len - off || desc_len > len - off - name_len)
			return -ENOEXEC;
		const uint8_t *nm = seg + off;
		const uint8_t *desc = seg + off + name_len;
		off += name_len + desc_len;
		if (type != XEN_ELFNOTE_PHYS32_ENTRY || namesz != 4 || memcmp(nm, "Xen", 4) != 0)
			continue;
		if (descsz == 4) {
			uint32_t e;
			memcpy(&e, desc, 4);
			*entry = e;
		} else if (descsz == 8) {
			memcpy(entry, desc, 8);
		} else {
			return -ENOEXEC;
		}
		return 1;
	}
	return 0;
}

int loader_load_elf_image(struct gmem *m, const uint8_t *img, uint64_t size, const char *name,
			  struct loaded_kernel *k)
{
	struct phdr ph[PHDR_MAX];
	unsigned n;
	if (size < sizeof(Elf32_Ehdr) || memcmp(img, ELFMAG, SELFMAG) != 0) {
		log_err("%s: not an ELF file (flint boots an uncompressed vmlinux)", name);
		return -ENOEXEC;
	}
	bool is64 = img[EI_CLASS] == ELFCLASS64;
	if ((!is64 && img[EI_CLASS] != ELFCLASS32) || img[EI_DATA] != ELFDATA2LSB ||
	    (is64 && size < sizeof(Elf64_Ehdr))) {
		log_err("%s: not a little-endian 32- or 64-bit ELF file", name);
		return -ENOEXEC;
	}
	uint16_t machine;
	memcpy(&machine, img + offsetof(Elf32_Ehdr, e_machine), 2);
	if (machine != (is64 ? EM_X86_64 : EM_386)) {
		log_err("%s: ELF machine %u is not x86", name, machine);
		return -ENOEXEC;
	}
	int r = read_phdrs(img, size, name, ph, &n);
	if (r < 0)
		return r;

	/* The note first: a file without one is not a kernel we can enter, whatever its segments. */
	bool have_entry = false, have_load = false;
	for (unsigned i = 0; i < n && !have_entry; i++) {
		const struct phdr *p = &ph[i];
		if (p->type != PT_NOTE)
			continue;
		if (!range_in(p->offset, p->filesz, size)) {
			log_err("%s: note segment lies outside the file", name);
			return -ENOEXEC;
		}
		r = find_pvh_note(img + p->offset, p->filesz, &k->entry);
		if (r < 0) {
			log_err("%s: malformed ELF note", name);
			return r;
		}
		have_entry = r == 1;
	}
	if (!have_entry) {
		log_err("%s: no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY); build the kernel with "
			"CONFIG_PVH=y",
			name);
		return -ENOEXEC;
	}

	k->low = UINT64_MAX;
	k->end = 0;
	for (unsigned i = 0; i < n; i++) {
		const struct phdr *p = &ph[i];
		if (p->type != PT_LOAD || p->memsz == 0)
			continue;
		if (p->filesz > p->memsz) {
			log_err("%s: segment %u has more file bytes than memory bytes", name, i);
			return -ENOEXEC;
		}
		if (!range_in(p->offset, p->filesz, size)) {
			log_err("%s: segment %u lies outside the file", name, i);
			return -ENOEXEC;
		}
		uint8_t *dst = gm_ptr(m, p->paddr, p->memsz);
		if (p->paddr < LAYOUT_HIMEM || !dst) {
			log_err("%s: segment %u at 0x%llx+0x%llx does not fit in guest RAM above 1 MiB"
				" (try a larger --mem)",
				name, i, (unsigned long long)p->paddr,
				(unsigned long long)p->memsz);
			return -ENOEXEC;
		}
		memcpy(dst, img + p->offset, p->filesz);
		memset(dst + p->filesz, 0, p->memsz - p->filesz);
		have_load = true;
		if (p->paddr < k->low)
			k->low = p->paddr;
		if (p->paddr + p->memsz > k->end)
			k->end = p->paddr + p->memsz;
	}
	if (!have_load) {
		log_err("%s: no loadable segments", name);
		return -ENOEXEC;
	}
	if (k->entry < k->low || k->entry >= k->end || k->entry >= LAYOUT_MMIO_HOLE) {
		log_err("%s: PVH entry 0x%llx is outside the loaded image", name,
			(unsigned long long)k->entry);
		return -ENOEXEC;
	}
	return 0;
}

int loader_load_elf(struct gmem *m, const char *path, struct loaded_kernel *k)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		log_err("cannot open kernel %s: %s", path, strerror(e));
		return -e;
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size == 0) {
		log_err("kernel %s is not a non-empty regular file", path);
		close(fd);
		return -EINVAL;
	}
	/* Map rather than read: only the pages the segments use are faulted in. */
	void *img = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (img == MAP_FAILED) {
		int e = errno;
		log_err("cannot map kernel %s: %s", path, strerror(e));
		return -e;
	}
	int r = loader_load_elf_image(m, img, (uint64_t)st.st_size, path, k);
	munmap(img, (size_t)st.st_size);
	return r;
}
