#!/usr/bin/perl
# SPDX-License-Identifier: ISC
# scripts/render.d/mp4join.pl: join MP4 parts into one MP4 without
# decoding anything (run by render.d/join.sh per name; perl-base is part of
# every Debian system; tested on its own by tests/t/0021-mp4join.sh).
#
#     mp4join.pl [-r FROM TO]... [-c DIR] OUT T FILE FIRST END... [T ...]
#
# Each T starts an output track made of the samples FIRST..END-1 (END "-":
# to the last) of the single track in each FILE, in order. The files of a
# track must hold the same codec configuration (else it fails saying
# "codec differs": render.sh then remakes a cache entry another encoder made).
# Writes OUT as a plain MP4 (moov before mdat) with the samples interleaved
# in half-second chunks. Then renames each FROM to TO (one left where
# rename(2) cannot, across file systems), and when none is left removes
# the files in DIR and DIR (left as is when it holds a directory). A bad
# part (missing, truncated, another codec configuration) or a failed write
# exits non-zero with a message before anything is renamed, and leaves no OUT.
use strict;
use warnings;

my (@ren, $clean, @spec, %src);
while (@ARGV > 2 && $ARGV[0] =~ /^-[rc]$/) {
	my $o = shift @ARGV;
	if ($o eq "-r") { push @ren, [ splice @ARGV, 0, 2 ] } else { $clean = shift @ARGV }
}
my $out = shift @ARGV;
while (@ARGV) {
	my $a = shift @ARGV;
	if ($a eq "T") { push @spec, []; next }
	die "bad arguments\n" unless @spec && @ARGV >= 2;
	push @{ $spec[-1] }, [ $a, shift @ARGV, shift @ARGV ];
}
die "no tracks\n" unless @spec;

sub rd {
	my ($fh, $off, $len) = @_;
	my $b = "";
	sysseek($fh, $off, 0) or die "seek: $!\n";
	while (length($b) < $len) {
		my $n = sysread($fh, $b, $len - length($b), length($b));
		die "short read\n" unless $n;
	}
	return $b;
}

# boxes PAYLOAD: its child boxes as [type, payload] pairs.
sub boxes {
	my ($p) = @_;
	my ($o, @r) = (0);
	while ($o < length $p) {
		die "truncated box\n" if $o + 8 > length $p;
		my ($s, $t) = unpack "Na4", substr($p, $o, 8);
		my $h = 8;
		if ($s == 1) { $s = unpack "Q>", substr($p, $o + 8, 8); $h = 16 }
		elsif ($s == 0) { $s = length($p) - $o }
		die "bad $t box\n" if $s < $h || $o + $s > length $p;
		push @r, [ $t, substr($p, $o + $h, $s - $h) ];
		$o += $s;
	}
	return @r;
}

sub child {
	my ($p, $t) = @_;
	for (boxes($p)) { return $_->[1] if $_->[0] eq $t }
	return undef;
}

sub need { my ($p, $t) = @_; return child($p, $t) // die "no $t box\n" }
sub box { return pack("Na4", 8 + length $_[1], $_[0]) . $_[1] }

# load FILE: its one track, with per-sample size, duration, file offset and
# sync flag.
sub load {
	my $f = shift;
	return $src{$f} if $src{$f};
	open(my $fh, "<:raw", $f) or die "$f: $!\n";
	my ($size, $o, %top) = (-s $fh, 0);
	while ($o + 8 <= $size) {
		my ($s, $t) = unpack "Na4", rd($fh, $o, 8);
		my $h = 8;
		if ($s == 1) { $s = unpack "Q>", rd($fh, $o + 8, 8); $h = 16 }
		elsif ($s == 0) { $s = $size - $o }
		die "$f: bad box\n" if $s < $h;
		die "$f: truncated: its $t box runs past the end\n" if $o + $s > $size;
		$top{$t} //= rd($fh, $o + $h, $s - $h) if $t eq "moov" || $t eq "ftyp";
		$o += $s;
	}
	die "$f: no moov\n" unless defined $top{moov};
	my @trak = grep { $_->[0] eq "trak" } boxes($top{moov});
	die "$f: not one track\n" unless @trak == 1;
	my %t = (name => $f, fh => $fh, ftyp => $top{ftyp}, moov => $top{moov},
		trak => $trak[0][1]);
	my $mdia = need($t{trak}, "mdia");
	my $mdhd = need($mdia, "mdhd");
	$t{ts} = unpack(ord($mdhd) ? "x20N" : "x12N", $mdhd);
	my %b = map { $_->[0] => $_->[1] } boxes(need(need($mdia, "minf"), "stbl"));
	for (qw(stsd stts stsc stsz)) { die "$f: no $_\n" unless defined $b{$_} }
	die "$f: composition offsets are not supported\n" if $b{ctts};
	$t{stbl} = \%b;
	my ($fix, $n) = unpack "x4NN", $b{stsz};
	my @size = $fix ? ($fix) x $n : unpack("x12N$n", $b{stsz});
	my @dur;
	my @e = unpack "x4N/(NN)", $b{stts};
	while (@e) { my ($c, $d) = splice @e, 0, 2; push @dur, ($d) x $c }
	my @co = defined $b{stco} ? unpack("x4N/N", $b{stco})
		: unpack("x4N/Q>", $b{co64} // die "$f: no chunk offsets\n");
	my @sc = unpack "x4N/(NNN)", $b{stsc};
	my ($i, @off) = (0);
	for my $c (1 .. @co) {
		splice @sc, 0, 3 while @sc > 3 && $sc[3] <= $c;
		my $p = $co[ $c - 1 ];
		for (1 .. $sc[1]) {
			die "$f: bad sample tables\n" if $i >= $n;
			push @off, $p;
			$p += $size[ $i++ ];
		}
	}
	die "$f: bad sample tables\n" unless $i == $n && @dur == $n;
	for (0 .. $n - 1) {
		die "$f: truncated: sample data past the end\n" if $off[$_] + $size[$_] > $size;
	}
	my @sync = (1) x $n;
	if (defined $b{stss}) {
		@sync = (0) x $n;
		$sync[ $_ - 1 ] = 1 for unpack "x4N/N", $b{stss};
	}
	@t{qw(n size dur off sync)} = ($n, \@size, \@dur, \@off, \@sync);
	# What must match between the parts of a track: the sample entry up to
	# its bitrate information (btrt, esds), which differs from part to part.
	($t{codec} = $b{stsd}) =~ s/(?:btrt|esds).*//s;
	return $src{$f} = \%t;
}

# patch BYTES OFFSET32 OFFSET64 VALUE: store a 32- or 64-bit field of a full
# box (version 0 or 1) payload.
sub patch {
	my ($p, $o0, $o1, $v) = @_;
	if (ord $p) { substr($p, $o1, 8) = pack "Q>", $v }
	else { die "value too large\n" if $v > 0xffffffff; substr($p, $o0, 4) = pack "N", $v }
	return $p;
}

my (@tr, $mvts);
for my $k (0 .. $#spec) {
	my (@s, $first);
	for (@{ $spec[$k] }) {
		my ($f, $from, $to) = @$_;
		my $t = load($f);
		$first //= $t;
		$to = $t->{n} if $to eq "-";
		die "$f: no samples $from..$to\n" unless $from =~ /^\d+$/ && $to =~ /^\d+$/
			&& $from <= $to && $to <= $t->{n};
		die "$f: codec differs from $first->{name}\n"
			unless $t->{codec} eq $first->{codec} && $t->{ts} == $first->{ts};
		push @s, map { [ $t, $_ ] } $from .. $to - 1;
	}
	die "empty track\n" unless @s;
	$mvts //= unpack(ord(need($first->{moov}, "mvhd")) ? "x20N" : "x12N",
		need($first->{moov}, "mvhd"));
	my ($sum, $c, @chunks) = (0);
	for (@s) {
		my ($t, $i) = @$_;
		if (!$c || $sum - $c->{dts} >= $first->{ts} / 2) {
			$c = { track => $k, dts => $sum, time => $sum / $first->{ts}, s => [] };
			push @chunks, $c;
		}
		push @{ $c->{s} }, $_;
		$sum += $t->{dur}[$i];
	}
	push @tr, { first => $first, s => \@s, chunks => \@chunks, mdur => $sum };
}

# Chunks in time order, so that audio and video are interleaved.
my @order = sort { $a->{time} <=> $b->{time} || $a->{track} <=> $b->{track} }
	map { @{ $_->{chunks} } } @tr;

sub stbl {
	my ($tr) = @_;
	my ($first, $s) = @$tr{qw(first s)};
	my $st = $first->{stbl};
	my (@stts, @stsc, @sync, $allsync);
	$allsync = 1;
	for my $j (0 .. $#$s) {
		my ($t, $i) = @{ $s->[$j] };
		my $d = $t->{dur}[$i];
		if (@stts && $stts[-1][1] == $d) { $stts[-1][0]++ } else { push @stts, [ 1, $d ] }
		if ($t->{sync}[$i]) { push @sync, $j + 1 } else { $allsync = 0 }
	}
	my $ci = 0;
	for (@{ $tr->{chunks} }) {
		$ci++;
		my $n = @{ $_->{s} };
		push @stsc, [ $ci, $n, 1 ] unless @stsc && $stsc[-1][1] == $n;
	}
	my @sizes = map { $_->[0]{size}[ $_->[1] ] } @$s;
	my $p = box("stsd", $st->{stsd});
	$p .= box("stts", pack("NN", 0, scalar @stts) . pack("(NN)*", map { @$_ } @stts));
	$p .= box("stss", pack("NN", 0, scalar @sync) . pack("N*", @sync)) unless $allsync;
	$p .= box("stsc", pack("NN", 0, scalar @stsc) . pack("(NNN)*", map { @$_ } @stsc));
	$p .= box("stsz", pack("NNN", 0, 0, scalar @sizes) . pack("N*", @sizes));
	$p .= box("stco", pack("NN", 0, scalar @{ $tr->{chunks} })
		. pack("N*", map { $_->{pos} // 0 } @{ $tr->{chunks} }));
	# A sample group covering every sample (the "roll" group of AAC) is kept.
	if (defined $st->{sgpd} && defined $st->{sbgp}) {
		my ($v, $type, $n, $count, $idx) = unpack "C x3 a4 N N N", $st->{sbgp};
		if ($v == 0 && $n == 1 && $count == $first->{n}) {
			$p .= box("sgpd", $st->{sgpd});
			$p .= box("sbgp", pack("N a4 N N N", 0, $type, 1, scalar @$s, $idx));
		}
	}
	return $p;
}

# trak: the track of the first file with new sample tables and durations.
sub trak {
	my ($tr, $id) = @_;
	my $first = $tr->{first};
	my ($skip, $p) = (0, "");
	my $elst = child(child($first->{trak}, "edts") // "", "elst");
	if (defined $elst) {
		my ($v, $n) = unpack "C x3 N", $elst;
		die "$first->{name}: edit list with $n entries\n" unless $n == 1;
		$skip = $v ? unpack("x16q>", $elst) : unpack("x12l>", $elst);
		die "$first->{name}: empty edit\n" if $skip < 0;
	}
	$tr->{movdur} = int(($tr->{mdur} - $skip) * $mvts / $first->{ts} + 0.5);
	for (boxes($first->{trak})) {
		my ($t, $b) = @$_;
		if ($t eq "tkhd") {
			substr($b, ord($b) ? 20 : 12, 4) = pack "N", $id;
			$b = patch($b, 20, 28, $tr->{movdur});
		} elsif ($t eq "edts") {
			$b = box("elst", patch($elst, 8, 8, $tr->{movdur}));
		} elsif ($t eq "mdia") {
			my $m = "";
			for (boxes($b)) {
				my ($t2, $b2) = @$_;
				if ($t2 eq "mdhd") { $b2 = patch($b2, 16, 24, $tr->{mdur}) }
				elsif ($t2 eq "minf") {
					$b2 = join "", map {
						$_->[0] eq "stbl" ? box("stbl", stbl($tr)) : box(@$_)
					} boxes($b2);
				}
				$m .= box($t2, $b2);
			}
			$b = $m;
		}
		$p .= box($t, $b);
	}
	return $p;
}

sub moov {
	my $first = $tr[0]{first};
	my @traks = map { box("trak", trak($tr[$_], $_ + 1)) } 0 .. $#tr;
	my $dur = 0;
	for (@tr) { $dur = $_->{movdur} if $_->{movdur} > $dur }
	my $mvhd = patch(need($first->{moov}, "mvhd"), 16, 24, $dur);
	substr($mvhd, -4) = pack "N", @tr + 1;
	my $udta = child($first->{moov}, "udta");
	return box("moov", box("mvhd", $mvhd) . join("", @traks)
		. (defined $udta ? box("udta", $udta) : ""));
}

my $ftyp = box("ftyp", $tr[0]{first}{ftyp} // die "no ftyp\n");
my $pos = length($ftyp) + length(moov()) + 8;
my $data = 0;
for (@order) {
	$_->{pos} = $pos + $data;
	$data += $_->[0]{size}[ $_->[1] ] for @{ $_->{s} };
}
die "output too large\n" if $pos + $data > 0xffffffff;
# A failure from here on (a write error, a part changed meanwhile) leaves no
# half-written OUT behind.
my $partial = $out;
END { unlink $partial if defined $partial && $? && -f $partial }
open(my $o, ">:raw", $out) or die "$out: $!\n";
print $o $ftyp, moov(), pack("Na4", 8 + $data, "mdat") or die "$out: $!\n";
for (@order) {
	# Runs of samples stored back to back are read at once.
	my ($fh, $at, $len) = (undef, 0, 0);
	for (@{ $_->{s} }, undef) {
		my ($t, $i) = $_ ? @$_ : (undef, 0);
		if ($_ && $fh && $t->{fh} == $fh && $t->{off}[$i] == $at + $len) {
			$len += $t->{size}[$i];
			next;
		}
		print $o rd($fh, $at, $len) or die "$out: $!\n" if $fh;
		($fh, $at, $len) = $_ ? ($t->{fh}, $t->{off}[$i], $t->{size}[$i]) : ();
	}
}
close($o) or die "$out: $!\n";
undef $partial;
my $left = 0;
for (@ren) {
	next if rename $_->[0], $_->[1];
	die "$_->[0]: $!\n" unless $!{EXDEV};
	$left = 1;
}
# Whatever cannot be removed here (a subdirectory) is left to the caller.
if (defined $clean && !$left && opendir(my $d, $clean)) {
	unlink "$clean/$_" for grep { !/^\.\.?$/ && !-d "$clean/$_" } readdir $d;
	rmdir $clean;
}
