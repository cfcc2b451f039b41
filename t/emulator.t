#!/usr/bin/perl

# The CI emulator itself, without nginx: it accepts exactly the requests
# the official signature vectors sign, refuses any tampering, and answers
# over keepalive connections.  The Authorization values below are the
# documentation's, computed by the official SDK, not by any code here.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use CiJobsTest;
use IO::Socket::INET;
use Test::More;

my $id = 'AKIDQjz3ltompVjBni5LitkWHFlFpwkn9U5q';
my $key = 'BQYIM75p8x0iWVFSIgqEKwFprpRSVHlz';
my $host = 'examplebucket-1250000000.ci.ap-beijing.myqcloud.com';
my $time = '1700000000;1900000000';

my $t = CiJobsTest->new(emulators => {
    plain => { secrets => [ "$id:$key" ] },
    skewed => { secrets => [ "$id:$key" ], clock_offset => 200_000_000 },
});

sub auth {
    my ($params, $signature, %over) = @_;
    my %f = (ak => $id, time => $time, headers => 'host', %over);
    return "q-sign-algorithm=sha1&q-ak=$f{ak}&q-sign-time=$f{time}"
         . "&q-key-time=$f{time}&q-header-list=$f{headers}"
         . "&q-url-param-list=$params&q-signature=$signature";
}

my $jobs = auth('', '86bd7ddf15d8a27b873c25a7e0388ec68db0f089');
my $pic = auth('', '1d72f14378f6dccade0eda8aea4d41ba3dddff0a');
my $list_target = '/jobs?queueId=p5ad1499214024af2bfaa4401d529xxxx'
                . '&tag=Transcode&states=Failed&size=10';
my $list = auth('queueid;size;states;tag',
                '1f98c7ff182378dc5e0236faffffaa7bee49d0b1');

# one or more requests over one connection
sub exchange {
    my ($name, @requests) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1:'
                                  . $t->emulator_port($name), Timeout => 10)
        or die "connect: $!";
    my @answers;
    for my $i (0 .. $#requests) {
        my ($target, %h) = @{ $requests[$i] };
        $h{Host} //= $host;
        $h{Connection} = $i == $#requests ? 'close' : 'keep-alive';
        print $s "GET $target HTTP/1.1\r\n",
                 map({ "$_: $h{$_}\r\n" } sort keys %h), "\r\n";
        my $head = '';
        while ($head !~ /\r\n\r\n$/) {
            sysread($s, $head, 1, length $head) or last;
        }
        my ($len) = $head =~ /Content-Length: (\d+)/i;
        my $body = '';
        while (length $body < ($len // 0)) {
            sysread($s, $body, $len - length $body, length $body) or last;
        }
        my ($status) = $head =~ m{^HTTP/1\.1 (\d+)};
        my ($code) = $body =~ m{<Code>(\w+)</Code>};
        push @answers, { status => $status, code => $code, body => $body };
    }
    return @answers;
}

sub one { (exchange(@_))[0] }

my $r = one('plain', [ '/jobs/j1', Authorization => $jobs ]);
is($r->{status}, 200, 'the official /jobs/j1 vector is accepted');
like($r->{body}, qr{<NonExistJobIds>j1</NonExistJobIds>},
     'an unknown job is reported missing');

is(one('plain', [ '/pic_jobs/j1', Authorization => $pic ])->{status}, 200,
   'the official /pic_jobs/j1 vector is accepted');
is(one('plain', [ $list_target, Authorization => $list ])->{status}, 200,
   'the official list vector is accepted');

for my $case (
    [ [ '/jobs/j2', Authorization => $jobs ], 'SignatureDoesNotMatch',
      'another path' ],
    [ [ '/pic_jobs/j1', Authorization => $jobs ], 'SignatureDoesNotMatch',
      'another API' ],
    [ [ "$list_target&x=1", Authorization => $list ], 'SignatureDoesNotMatch',
      'an unsigned parameter' ],
    [ [ $list_target =~ s/size=10/size=11/r, Authorization => $list ],
      'SignatureDoesNotMatch', 'a changed parameter' ],
    [ [ '/jobs/j1', Authorization => $jobs, Host => "x$host" ],
      'InvalidHost', 'another host' ],
    [ [ '/jobs/j1', Authorization => $jobs =~ s/086bd/186bd/r =~ s/86bd7/96bd7/r ],
      'SignatureDoesNotMatch', 'a changed signature' ],
    [ [ '/jobs/j1', Authorization => auth('', '86bd7ddf15d8a27b873c25a7e0388ec68db0f089', headers => '') ],
      'SignatureDoesNotMatch', 'host not signed' ],
    [ [ '/jobs/j1', Authorization => auth('', '86bd7ddf15d8a27b873c25a7e0388ec68db0f089', ak => 'AKIDother') ],
      'InvalidAccessKeyId', 'an unknown key id' ],
    [ [ '/jobs/j1' ], 'AccessDenied', 'no Authorization' ],
) {
    my ($request, $code, $what) = @$case;
    my $r = one('plain', $request);
    is($r->{status}, 403, "$what: 403");
    is($r->{code}, $code, "$what: $code");
}

$r = one('skewed', [ '/jobs/j1', Authorization => $jobs ]);
is($r->{code}, 'RequestTimeTooSkewed', 'outside q-sign-time: refused');

my @two = exchange('plain', [ '/jobs/j1', Authorization => $jobs ],
                            [ '/pic_jobs/j1', Authorization => $pic ]);
is_deeply([ map { $_->{status} } @two ], [ 200, 200 ],
          'two requests over one connection');

my @seen = $t->upstream_requests('plain');
is($seen[-1]{target}, '/pic_jobs/j1', 'the record holds the last request');
is($seen[-1]{pid}, $seen[-2]{pid}, 'one connection, one process');
is(scalar(grep { $_->{signature} eq 'ok' } @seen), 5,
   'the record tells good signatures from bad');

$t->stop_all;
done_testing;
